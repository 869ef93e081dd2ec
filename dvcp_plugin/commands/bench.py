"""``dvcp bench``: speed and memory per stage and end to end, as JSON and a markdown table.

Every configuration (kind, input size, chroma scale, device, precision) runs in a fresh
subprocess (``python -m dvcp_plugin.bench.measure``), so its peak RSS is its own. CUDA
configurations are listed as "not measured" when torch sees no CUDA device. The report also
gives, per input size and chroma scale, the FLOPs of one frame per stage and the time floor that
an H200's peak rates put under them (see docs/PERFORMANCE.md for what is counted).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ..bench.bench_report import markdown, report
from ..bench.common import KINDS, BenchConfig
from ..bench.preset_curve import curve_markdown, curve_rows, preset_quality
from ..errors import DvcpError
from ..options import DEFAULT_PRESET, PRESETS
from ..runtime.devices import cpu_model
from ..stages.build import untrained_weights
from ..stages.weights import find_weights, save_weights
from ..training.data import find_sequences

NO_CUDA = "not measured: no CUDA device"


def _sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for item in text.split(","):
        try:
            width, height = (int(v) for v in item.lower().split("x"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"size {item!r} must be WIDTHxHEIGHT, e.g. 854x480") from None
        sizes.append((width, height))
    return sizes


def _scales(text: str) -> list[float]:
    try:
        scales = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"scales {text!r} must be numbers separated by commas") from None
    if not all(0.0 < s <= 1.0 for s in scales):
        raise argparse.ArgumentTypeError(f"chroma scales must lie in (0, 1], got {text}")
    return scales


def _kinds(text: str) -> list[str]:
    kinds = text.split(",")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown kind(s) {', '.join(unknown)}; use {','.join(KINDS)}")
    return kinds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Sizes, scales, frames, threads, weights and the output files."""
    parser.add_argument("--sizes", type=_sizes, help="input sizes WxH,... (default 854x480,1920x1080)")
    parser.add_argument("--scales", type=_scales, help="chroma working scales (default 0.25,0.5,1.0)")
    parser.add_argument("--filter-scales", type=_scales,
                        help="chroma scales also measured through the VapourSynth filter (default 0.5)")
    parser.add_argument("--frames", type=int, help="timed frames per configuration (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed frames first (default 1)")
    parser.add_argument("--prefetch", type=int, default=4, help="filter requests in flight (default 4)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's, i.e. the cores)")
    parser.add_argument("--long-shot", type=int, help="frames of the long-shot memory run (default 600)")
    parser.add_argument("--long-shot-size", type=_sizes, help="its input size (default 320x240)")
    parser.add_argument("--long-shot-cache-mb", type=float, default=16, help="its cache bound (default 16)")
    parser.add_argument("--weights", help="weights file (default: the shipped one, else untrained weights)")
    parser.add_argument("--kinds", type=_kinds, default=list(KINDS),
                        help="what to measure: engine,filter,long_shot (default all)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and one frame: a smoke run")
    parser.add_argument("--preset", choices=tuple(PRESETS), default=DEFAULT_PRESET,
                        help=f"the preset measured (default {DEFAULT_PRESET}; --presets measures each)")
    parser.add_argument(
        "--presets", action="store_true",
        help="the presets' speed/quality curve instead: each preset scored on --data (K=25 and 80) and timed "
             "through the filter at each size on frames of its first sequence, with DIS flow beside them",
    )
    parser.add_argument("--data", nargs="+", metavar="FOLDER",
                        help="with --presets: colour sequences to score the presets on (e.g. data/val)")
    parser.add_argument("--footage", metavar="FOLDER",
                        help="with --presets: the frames timed, scaled to each size (default: the first sequence "
                             "of --data, else a synthetic texture)")
    parser.add_argument("--json", type=Path, help="write the full report as JSON")
    parser.add_argument("--markdown", type=Path, help="write the markdown tables")


def _weights(path: str | None, workdir: Path) -> dict[str, Any]:
    if path is not None:
        return {"path": str(find_weights(path)), "source": "given"}
    try:
        return {"path": str(find_weights()), "source": "shipped"}
    except DvcpError:
        target = workdir / "untrained.pt"
        save_weights(target, untrained_weights(0))
        return {"path": str(target), "source": "untrained_weights(0): no shipped weights; speed does not "
                                                "depend on weight values"}


def plan(args: argparse.Namespace, weights: str, cuda: bool) -> list[tuple[BenchConfig, str | None]]:
    """Every configuration to measure, with the reason it is not measured (None when it is)."""
    quick = args.quick
    sizes = args.sizes or ([(64, 48)] if quick else [(854, 480), (1920, 1080)])
    scales = args.scales or ([0.5] if quick else [0.25, 0.5, 1.0])
    filter_scales = args.filter_scales or [0.5]
    frames = args.frames or (1 if quick else 3)
    threads = args.threads or torch.get_num_threads()
    long_frames = args.long_shot or (12 if quick else 600)
    long_w, long_h = (args.long_shot_size or [(64, 48) if quick else (320, 240)])[0]
    targets = [("cpu", False, None), ("cuda", False, None if cuda else NO_CUDA),
               ("cuda", True, None if cuda else NO_CUDA)]
    common = {"weights": weights, "threads": threads, "warmup": args.warmup, "prefetch": args.prefetch,
              "preset": args.preset}
    configs = []
    for kind, kind_scales in (("engine", scales), ("filter", filter_scales)):
        if kind not in args.kinds:
            continue
        for device, half, reason in targets:
            for width, height in sizes:
                for scale in kind_scales:
                    config = BenchConfig(kind=kind, width=width, height=height, chroma_scale=scale,
                                         device=device, half=half, frames=frames, **common)
                    configs.append((config, reason))
    for device, half, reason in targets if "long_shot" in args.kinds else ():
        config = BenchConfig(kind="long_shot", width=long_w, height=long_h, chroma_scale=0.5, device=device,
                             half=half, frames=long_frames, cache_mb=args.long_shot_cache_mb, **common)
        configs.append((config, reason))
    return configs


def run_config(config: BenchConfig, workdir: Path) -> dict[str, Any]:
    """Measure ``config`` in a fresh Python process and return its result."""
    out = workdir / "result.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, "-m", "dvcp_plugin.bench.measure", json.dumps(asdict(config)), str(out)]
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0 or not out.is_file():
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        return {**asdict(config), "status": "failed", "reason": tail[0]}
    return json.loads(out.read_text())


def machine() -> dict[str, Any]:
    """CPU model, cores, torch threads, versions and the CUDA device, if any."""
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu_model": cpu_model(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__, "python": platform.python_version(), "cuda_device": cuda,
        "load_average": list(os.getloadavg()),
    }


def run_plan(
    configs: list[tuple[BenchConfig, str | None]], workdir: Path, progress: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Measure every configuration (each in its own process); unmeasured ones say why."""
    entries = []
    for i, (config, reason) in enumerate(configs, 1):
        scale = "of the preset" if config.chroma_scale is None else f"{config.chroma_scale:g}"
        where = (f"{config.kind} {config.width}x{config.height} preset {config.preset} scale {scale} "
                 f"{config.device}{' fp16' if config.half else ''}")
        if reason is not None:
            entries.append({**asdict(config), "status": "not measured", "reason": reason})
            continue
        progress(f"[{i}/{len(configs)}] {where}")
        entries.append(run_config(config, workdir))
        if entries[-1]["status"] != "measured":
            progress(f"    failed: {entries[-1]['reason']}")
    return entries


def plan_presets(
    args: argparse.Namespace, weights: str, footage: str | None, threads: int
) -> list[tuple[BenchConfig, str | None]]:
    """The filter measurements of the preset curve: every preset at every size, on the CPU."""
    sizes = args.sizes or ([(64, 48)] if args.quick else [(854, 480), (1920, 1080)])
    frames = args.frames or (1 if args.quick else 12)
    return [
        (BenchConfig(kind="filter", width=width, height=height, chroma_scale=None, weights=weights,
                     threads=threads, frames=frames, warmup=args.warmup, prefetch=args.prefetch, preset=preset,
                     footage=footage), None)
        for preset in PRESETS for width, height in sizes
    ]


def _preset_curve(args: argparse.Namespace, weights: str, workdir: Path,
                  progress: Callable[[str], None]) -> dict[str, Any]:
    sequences = sorted(find_sequences(args.data), key=lambda s: s.name) if args.data else []
    footage = args.footage or (str(sequences[0].frames[0].parent) if sequences else None)
    threads = args.threads or torch.get_num_threads()
    entries = run_plan(plan_presets(args, weights, footage, threads), workdir, progress)
    quality = preset_quality(sequences, weights, threads, progress=progress) if sequences else {}
    sizes = list(dict.fromkeys(f"{e['width']}x{e['height']}" for e in entries))
    rows = curve_rows(quality, entries)
    return {"entries": entries, "curve": rows, "footage": footage, "sequences": [s.name for s in sequences],
            "markdown": curve_markdown(rows, sizes)}


def run(args: argparse.Namespace) -> int:
    """Run the benchmark, print the markdown tables, write the requested files."""
    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    if (args.data or args.footage) and not args.presets:
        raise DvcpError("--data and --footage are for --presets (the sequences scored, the frames timed)")
    info: dict[str, Any] = {"command": "dvcp bench " + shlex.join(sys.argv[2:]) if sys.argv[1:2] == ["bench"]
                            else "dvcp bench", "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="dvcp-bench-") as tmp:
        workdir = Path(tmp)
        weights = _weights(args.weights, workdir)
        if args.presets:
            curve = _preset_curve(args, weights["path"], workdir, progress)
            entries = curve.pop("entries")
        else:
            curve = None
            entries = run_plan(plan(args, weights["path"], torch.cuda.is_available()), workdir, progress)
    info["weights"] = weights
    info["load_average_after"] = list(os.getloadavg())
    rep = report(entries, info)
    if curve is not None:
        rep["preset_curve"] = curve
    text = markdown(rep)
    print(text, end="")
    if args.json:
        args.json.write_text(json.dumps(rep, indent=1) + "\n")
    if args.markdown:
        args.markdown.write_text(text)
    failed = [e for e in entries if e["status"] == "failed"]
    return 1 if failed else 0
