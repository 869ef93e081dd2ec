"""One run for a machine with a CUDA device: CUDA against the CPU, half against float32, and the
bench's 1080p figures on the GPU, all in one JSON file.

    .venv/bin/python benchmarks/cuda_check.py --json cuda-check.json [--markdown cuda-bench.md]

Checks, frame by frame on the procedural sample shot (``dvcp demo``'s), scored as 8-bit RGB PSNR
(the evaluation protocol's, peak 255) of the output frames made from the shot's grey:

- float32 on CUDA against float32 on the CPU: at least ``FP32_DB``. Not equal: cuDNN runs float32
  convolutions in TF32 by default (the engine leaves its flags alone), and a feature that moves
  by that much can switch a match between two near-equal keyframe positions.
- half precision against float32, both on CUDA: at least ``HALF_DB``.

Each for the shipped stages and for the motion-compensated ones (mcsepconv, anchor, fusion, with
untrained weights: the same operations), through the engine, and for the shipped stages through
``dvcp_plugin.colorize`` as well. Then ``dvcp bench``'s entries (each in its own process) at
``--bench-size`` and chroma scale 0.5: the engine in float32 and half precision (stage by stage),
the filter in half precision (end to end, beside the engine alone and flow propagation).

Without a CUDA device the CPU references still run (so the script is exercised) and every CUDA
part is skipped, with a message on stderr and the reason in the JSON. The exit status is 1 when a
check that ran failed or a bench entry was not measured.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dvcp_plugin.bench.bench_report import markdown, report
from dvcp_plugin.bench.common import BenchConfig
from dvcp_plugin.commands.bench import machine, run_config
from dvcp_plugin.evaluation.methods import output_rgb
from dvcp_plugin.evaluation.metrics import psnr
from dvcp_plugin.media.demo_shot import make_shot
from dvcp_plugin.options import EngineOptions
from dvcp_plugin.runtime.engine import Engine
from dvcp_plugin.runtime.sequential import propagate_shot
from dvcp_plugin.stages.build import untrained_weights
from dvcp_plugin.stages.weights import find_weights, save_weights
from dvcp_plugin.training.data import frame_planes

FP32_DB = 40.0
HALF_DB = 45.0
MOTION_STAGES = {"local": "mcsepconv", "global": "anchor", "refine": "fusion"}


def _size(text: str) -> tuple[int, int]:
    width, height = (int(v) for v in text.lower().split("x"))
    return width, height


def _engine_frames(weights: Path, stages: dict[str, str], device: str, half: bool,
                   greys: list[torch.Tensor], chroma: torch.Tensor) -> list[np.ndarray]:
    """The engine's output frames (8-bit RGB) of the shot."""
    engine = Engine(EngineOptions(weights=weights, device=device, half=half, global_stage=stages.get("global")))
    size = tuple(greys[0].shape)
    return [output_rgb(grey, engine.to_full(out.final, size))
            for grey, out in zip(greys, propagate_shot(engine, greys, {0: chroma}), strict=True)]


def _filter_frames(weights: Path, device: str, half: bool, shot: np.ndarray) -> list[np.ndarray]:
    """colorize's RGB24 frames of the shot's grey (a GRAY8 clip), keyframe 0 in colour."""
    import vapoursynth as vs

    import dvcp_plugin

    greys = [frame_planes(rgb)[0] for rgb in shot]
    core = vs.core
    blank = core.std.BlankClip(format=vs.GRAY8, width=shot.shape[2], height=shot.shape[1], length=len(shot), keep=True)

    def draw(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        np.asarray(out[0])[...] = (greys[n] * 255).round().to(torch.uint8).numpy()
        return out

    clip = core.std.ModifyFrame(blank, blank, draw)
    node = dvcp_plugin.colorize(clip, {0: shot[0]}, weights=weights, device=device, half=half, format=vs.RGB24)
    return [np.dstack([np.asarray(node.get_frame(n)[i]) for i in range(3)]) for n in range(len(shot))]


def _check(name: str, got: list[np.ndarray], reference: list[np.ndarray], threshold: float) -> dict[str, Any]:
    scores = [psnr(a, b) for a, b in zip(got, reference, strict=True)]
    result = {"name": name, "threshold_db": threshold, "min_db": min(scores), "per_frame_db": scores,
              "passed": min(scores) >= threshold}
    print(f"{'pass' if result['passed'] else 'FAIL'}: {name}: min {min(scores):.1f} dB (at least {threshold:g})",
          file=sys.stderr)
    return result


def checks(shot: np.ndarray, shipped: Path, motion: Path, cuda: bool) -> list[dict[str, Any]]:
    """CUDA fp32 against the CPU and half against fp32, through the engine and the filter."""
    planes = [frame_planes(rgb) for rgb in shot]
    greys, chroma = [grey for grey, _ in planes], planes[0][1]
    results = []
    runs = (("shipped stages", shipped, {}), ("motion-compensated stages", motion, MOTION_STAGES))
    for label, weights, stages in runs:
        cpu = _engine_frames(weights, stages, "cpu", False, greys, chroma)
        if cuda:
            fp32 = _engine_frames(weights, stages, "cuda", False, greys, chroma)
            half = _engine_frames(weights, stages, "cuda", True, greys, chroma)
            results.append(_check(f"engine, {label}: cuda fp32 vs cpu fp32", fp32, cpu, FP32_DB))
            results.append(_check(f"engine, {label}: cuda fp16 vs cuda fp32", half, fp32, HALF_DB))
    cpu = _filter_frames(shipped, "cpu", False, shot)
    if cuda:
        fp32, half = (_filter_frames(shipped, "cuda", precision, shot) for precision in (False, True))
        results.append(_check("colorize, shipped stages: cuda fp32 vs cpu fp32", fp32, cpu, FP32_DB))
        results.append(_check("colorize, shipped stages: cuda fp16 vs cuda fp32", half, fp32, HALF_DB))
    return results


def bench_entries(weights: Path, size: tuple[int, int], frames: int) -> list[dict[str, Any]]:
    """The bench's engine entries (fp32, fp16) and filter entry (fp16) on CUDA at chroma scale 0.5."""
    width, height = size
    configs = [BenchConfig(kind=kind, width=width, height=height, chroma_scale=0.5, weights=str(weights),
                           device="cuda", half=half, threads=torch.get_num_threads(), frames=frames)
               for kind, half in (("engine", False), ("engine", True), ("filter", True))]
    entries = []
    with tempfile.TemporaryDirectory(prefix="dvcp-cuda-check-") as tmp:
        for config in configs:
            print(f"bench: {config.kind} {width}x{height} cuda {'fp16' if config.half else 'fp32'}", file=sys.stderr)
            entries.append(run_config(config, Path(tmp)))
    return entries


def main(argv: list[str] | None = None) -> int:
    """Run the checks and the bench entries; write the JSON (and the bench's markdown)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    parser.add_argument("--markdown", type=Path, help="also write the bench entries' markdown tables")
    parser.add_argument("--size", type=_size, default=(854, 480), help="checks: frame size WxH (default 854x480)")
    parser.add_argument("--frames", type=int, default=12, help="checks: frames of the shot (default 12)")
    parser.add_argument("--bench-size", type=_size, default=(1920, 1080), help="bench: input size (default 1920x1080)")
    parser.add_argument("--bench-frames", type=int, default=10, help="bench: timed frames (default 10)")
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available()
    info = machine()
    skipped = None if cuda else "no CUDA device: CUDA checks and bench entries skipped, CPU references only"
    if skipped:
        print(skipped, file=sys.stderr)
    width, height = args.size
    shot = make_shot(args.frames, height, width)
    with tempfile.TemporaryDirectory(prefix="dvcp-cuda-check-") as tmp:
        motion = save_weights(Path(tmp) / "motion.pt", untrained_weights(0, MOTION_STAGES))
        results = checks(shot, find_weights(), motion, cuda)
    entries = bench_entries(find_weights(), args.bench_size, args.bench_frames) if cuda else []
    bench = report(entries, {"machine": info, "load_average_after": list(os.getloadavg()),
                             "weights": {"source": "shipped"}})
    out = {"machine": info, "skipped": skipped, "size": [width, height], "frames": args.frames,
           "checks": results, "bench": bench}
    args.json.write_text(json.dumps(out, indent=1) + "\n")
    if args.markdown and entries:
        args.markdown.write_text(markdown(bench))
    failed = [r for r in results if not r["passed"]] + [e for e in entries if e["status"] != "measured"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
