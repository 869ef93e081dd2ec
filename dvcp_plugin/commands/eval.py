"""``dvcp eval``: the evaluation protocol of DESIGN §5 on colour sequences, with a plot and a contact sheet."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from ..evaluation.pictures import contact_sheet, plot_psnr_by_frame
from ..evaluation.protocol import evaluate
from ..filters.files import write_all
from ..filters.images import write_image
from ..media.paths import OutputError, check_writable_file
from ..runtime.engine import Engine, EngineConfig
from ..training.data import find_sequences


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Data folders, K, outputs, weights and device."""
    parser.add_argument("data", nargs="+", help="sequence folders, or folders of sequence folders")
    parser.add_argument(
        "--frames", type=int, nargs="+", default=[25, 80], metavar="K",
        help="score frames 1..K-1; several K come from one run to the largest (default: 25 80)",
    )
    parser.add_argument("--json", required=True, help="where to write the scores (JSON)")
    parser.add_argument("--plot", help="PSNR-by-frame PNG (default: next to the JSON, *-psnr.png)")
    parser.add_argument("--sheet", help="contact sheet PNG (default: next to the JSON, *-sheet.png)")
    parser.add_argument("--sheet-sequence", help="sequence shown on the contact sheet (default: the first)")
    parser.add_argument("--weights", help="weights file or training checkpoint (default: the shipped weights)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--half", action="store_true", help="half precision (CUDA only)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch")


def run(args: argparse.Namespace) -> int:
    """Score, write the JSON, the plot and the contact sheet, and print a table."""
    json_path = Path(args.json)
    stem = json_path.with_suffix("")
    plot_path = Path(args.plot or f"{stem}-psnr.png")
    sheet_path = Path(args.sheet or f"{stem}-sheet.png")
    for option, path in (("--json", json_path), ("--plot", plot_path), ("--sheet", sheet_path)):
        check_writable_file(path, option)
    sequences = sorted(find_sequences(args.data), key=lambda s: s.name)
    engine = Engine(EngineConfig(weights=args.weights, device=args.device, half=args.half, threads=args.threads))
    sheet_name = args.sheet_sequence or sequences[0].name
    total = sum(min(max(args.frames), len(s.frames)) - 1 for s in sequences)
    with tqdm(total=total, file=sys.stderr, unit="frame", dynamic_ncols=True,
              mininterval=0.5 if sys.stderr.isatty() else 30.0) as bar:
        result, scores, sheet = evaluate(engine, sequences, args.frames, sheet_name, lambda: bar.update(1))
    rows = [[(f"frame {k}: grey (input)", grey), ("truth", truth), ("output", output)]
            for k, grey, truth, output in (sheet.rows if sheet else [])]
    try:
        for path in (json_path, plot_path, sheet_path):
            path.parent.mkdir(parents=True, exist_ok=True)
        write_all(json_path, (json.dumps(result, indent=2) + "\n").encode())
        plot_psnr_by_frame(
            plot_path,
            {"dvcp (mean over sequences)": result["mean_psnr_by_frame"],
             "key-frame chroma (mean)": result["reference_mean_psnr_by_frame"]},
            {"dvcp (mean over sequences)": (31, 119, 180), "key-frame chroma (mean)": (150, 150, 150)},
            f"RGB PSNR by frame, {len(sequences)} sequences, keyframe = frame 0",
        )
        write_image(sheet_path, contact_sheet(rows, f"{sheet_name}: grey input, truth, dvcp output"))
    except OSError as exc:
        raise OutputError(f"cannot write the results: {exc.strerror or exc}") from None
    print(f"{'sequence':32s} " + " ".join(f"{'K=' + str(k):>22s}" for k in sorted(set(args.frames))))
    for name in result["sequences"]:
        cells = [result["by_frames"][str(k)]["sequences"][name] for k in sorted(set(args.frames))]
        print(f"{name:32s} " + " ".join(f"{c['psnr']:6.2f} dB (ref {c['reference_psnr']:5.2f})" for c in cells))
    means = [result["by_frames"][str(k)] for k in sorted(set(args.frames))]
    print(f"{'mean':32s} " + " ".join(f"{m['mean_psnr']:6.2f} dB (ref {m['reference_mean_psnr']:5.2f})" for m in means))
    print("SSIM: " + ", ".join(f"K={m['frames']} {m['mean_ssim']:.4f} (ref {m['reference_mean_ssim']:.4f})" for m in means))
    print(f"{result['seconds']:.0f} s; wrote {json_path}, {plot_path}, {sheet_path}")
    return 0
