"""``dvcp eval``: the evaluation protocol (docs/TRAINING.md) on colour sequences, dvcp and the baselines side by
side, with a plot and a contact sheet."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
from tqdm import tqdm

from ..evaluation.methods import BASELINES, ESTIMATES, SHORT_NAMES
from ..evaluation.pictures import contact_sheet, degradation_sheet, plot_psnr_by_frame
from ..evaluation.protocol import evaluate
from ..evaluation.report import table_lines
from ..filters.files import write_all
from ..filters.images import write_image
from ..media.paths import OutputError, check_writable_file
from ..options import EngineOptions
from ..runtime.engine import GLOBAL_ESTIMATES, Engine
from ..training.data import find_sequences
from ..training.degradations import NAMES as DEGRADATIONS
from ..training.degradations import DegradationError, Degradations, parse_degradations
from .flags import add_option_flags, options_of


def _baselines(text: str) -> list[str]:
    """``flow,key`` -> ["flow", "key"]; ``none`` -> []."""
    if text.strip() == "none":
        return []
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in BASELINES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown baseline(s) {', '.join(unknown) or repr(text)}; use a comma-separated list of "
            f"{', '.join(BASELINES)}, or none"
        )
    return list(dict.fromkeys(names))


def _keys(text: str) -> list[int | str]:
    """``0,last`` -> [0, "last"]: keyframe positions, frame numbers from 0 or ``last``."""
    keys: list[int | str] = []
    for item in (part.strip() for part in text.split(",")):
        if item == "last" or item.isdigit():
            keys.append(item if item == "last" else int(item))
        else:
            raise argparse.ArgumentTypeError(
                f"{item!r} in {text!r} is not a frame number or last; use a comma-separated list such as 0,last"
            )
    return list(dict.fromkeys(keys))


def _degradations(text: str) -> Degradations:
    try:
        return parse_degradations(text)
    except DegradationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Data folders, K, outputs, weights, device and baselines."""
    parser.add_argument("data", nargs="+", help="sequence folders, or folders of sequence folders")
    parser.add_argument(
        "--frames", type=int, nargs="+", default=[25, 80], metavar="K",
        help="score frames 0..K-1 that are not keyframes; several K come from one run to the largest (default: 25 80)",
    )
    parser.add_argument(
        "--keys", type=_keys, default=[0], metavar="POSITIONS",
        help="keyframes given their true colours, comma-separated frame numbers or last (the last frame of the "
             "largest K, or of a shorter sequence), e.g. 0,last (default: 0); the baselines get the same keyframes",
    )
    parser.add_argument("--json", required=True, help="where to write the scores (JSON)")
    parser.add_argument("--plot", help="PSNR-by-frame PNG (default: next to the JSON, *-psnr.png)")
    parser.add_argument("--sheet", help="contact sheet PNG (default: next to the JSON, *-sheet.png)")
    parser.add_argument("--sheet-sequence", help="sequence shown on the contact sheet (default: the first)")
    add_option_flags(parser, EngineOptions, ("preset", "weights", "device", "half", "chroma_scale", "stage_options"))
    parser.add_argument("--threads", type=int, help="CPU threads for torch and OpenCV (default: torch's)")
    parser.add_argument(
        "--estimate", choices=ESTIMATES, default="final",
        help="which of dvcp's estimates is scored: final (the output), or the local or global stage's "
             "estimate alone (default: final)",
    )
    parser.add_argument(
        "--global-estimate", choices=GLOBAL_ESTIMATES, default="stage",
        help="key: the global stage's estimate replaced by the keyframe's chroma, its confidence kept "
             "(an ablation; default: stage)",
    )
    parser.add_argument(
        "--degrade", type=_degradations, default=Degradations(), metavar="SPEC",
        help="also score every method on degraded input, side by side with clean: a set (scan: weave, flicker, "
             "grain, dust, scratch; all: scan with blur and compression) and/or NAME=STRENGTH items, e.g. "
             "scan or flicker=1,grain=2 (names: " + ", ".join(DEGRADATIONS) + ")",
    )
    parser.add_argument("--degrade-seed", type=int, default=0, help="seed of the degradations (default 0)")
    parser.add_argument(
        "--degrade-sheet", metavar="PNG",
        help="with --degrade: a picture of one frame of the contact-sheet sequence, clean and under each "
             "degradation alone and all together",
    )
    parser.add_argument(
        "--baselines", type=_baselines, default=list(BASELINES), metavar="NAMES",
        help="baselines scored in the same run: flow (DIS optical-flow propagation), key (key-frame "
             "chroma copy), comma-separated, or none (default: flow,key)",
    )


_COLOURS = {"dvcp": (31, 119, 180), "flow": (255, 127, 14), "key": (150, 150, 150)}
_SHEET_COLUMNS = ("dvcp", "flow")  # method outputs on the contact sheet, after grey and truth


def run(args: argparse.Namespace) -> int:
    """Score, write the JSON, the plot and the contact sheet, and print a table."""
    json_path = Path(args.json)
    stem = json_path.with_suffix("")
    plot_path = Path(args.plot or f"{stem}-psnr.png")
    sheet_path = Path(args.sheet or f"{stem}-sheet.png")
    pictures = [("--json", json_path), ("--plot", plot_path), ("--sheet", sheet_path)]
    if args.degrade_sheet:
        if not args.degrade.active:
            raise OutputError("--degrade-sheet needs --degrade SPEC (what to show)")
        pictures.append(("--degrade-sheet", Path(args.degrade_sheet)))
    for option, path in pictures:
        check_writable_file(path, option)
    sequences = sorted(find_sequences(args.data), key=lambda s: s.name)
    engine = Engine(options_of(args, EngineOptions), global_estimate=args.global_estimate)
    if args.threads:
        cv2.setNumThreads(args.threads)
    sheet_name = args.sheet_sequence or sequences[0].name
    total = sum(min(max(args.frames), len(s.frames)) - len(args.keys) for s in sequences)
    total *= 2 if args.degrade.active else 1
    with tqdm(total=total, file=sys.stderr, unit="frame", dynamic_ncols=True,
              mininterval=0.5 if sys.stderr.isatty() else 30.0) as bar:
        result, _, sheet = evaluate(
            engine, sequences, args.frames, sheet_name, lambda: bar.update(1), args.baselines, args.keys,
            args.estimate, args.degrade, args.degrade_seed,
        )
    curves = result["psnr_by_frame"]["mean"]
    shown = [name for name in _SHEET_COLUMNS if name in result["methods"]]
    rows = [[(f"frame {row.frame}: grey (input)", row.grey), ("truth", row.truth),
             *((SHORT_NAMES[name], row.outputs[name]) for name in shown)]
            for row in (sheet.rows if sheet else [])]
    title = f"{sheet_name}: grey input, truth, " + ", ".join(SHORT_NAMES[name] for name in shown)
    try:
        for path in (json_path, plot_path, sheet_path):
            path.parent.mkdir(parents=True, exist_ok=True)
        write_all(json_path, (json.dumps(result, indent=2) + "\n").encode())
        plot_psnr_by_frame(
            plot_path,
            {f"{SHORT_NAMES[name]} (mean)": series for name, series in curves.items()},
            {f"{SHORT_NAMES[name]} (mean)": _COLOURS[name] for name in curves},
            f"RGB PSNR by frame, {len(sequences)} sequences, keyframes = frames {', '.join(map(str, args.keys))}",
        )
        write_image(sheet_path, contact_sheet(rows, title))
        if args.degrade_sheet:
            sequence = next(s for s in sequences if s.name == sheet_name)
            write_image(Path(args.degrade_sheet), degradation_sheet(sequence, args.degrade, args.degrade_seed))
    except OSError as exc:
        raise OutputError(f"cannot write the results: {exc.strerror or exc}") from None
    for line in table_lines(result):
        print(line)
    if "degraded" in result:
        print(f"on degraded input ({result['degraded']['degradations']}):")
        for line in table_lines(result["degraded"]):
            print(line)
    written = ", ".join(str(path) for _, path in pictures)
    print(f"{result['seconds'] + result.get('degraded', {}).get('seconds', 0):.0f} s; wrote {written}")
    return 0
