"""Each preset's DIS calls for one frame, timed beside the one call of DIS-flow propagation.

    .venv/bin/python benchmarks/motion_budget.py ../shared/data/val/davis-bear --size 854x480 --threads 2

The motion budget: a frame's motion should cost no more than one DIS call at the input's
resolution (what flow propagation spends). Each preset's calls, as its options make them
(``dvcp_plugin.options.PRESETS``; chroma scale 0.5, so the working resolution is half the input's;
the motion resolution is the input's up to about 854×480): the local stage's frame-to-frame
motion, its check, the keyframe's long-range motion and its check. Timed with the estimator the
stages use (``models.motion.DISMotion``), on consecutive frames of real footage scaled to the
size; median milliseconds per call over ``--frames`` frames.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import torch

from dvcp_plugin.models.color import grey_u8
from dvcp_plugin.models.motion import DISMotion
from dvcp_plugin.options import PRESETS
from dvcp_plugin.training.data import find_sequences, load_frame

CHEAP = dict(PRESETS["fast"].stage_options["local"]["motion_options"])  # the presets' cheap motion
MEDIUM: dict[str, object] = {"preset": "medium"}  # DIS's own default, flow propagation's
# per preset: (use, DIS options, at the input's resolution (True) or the working one)
CALLS = {
    "flow propagation": [("frame to frame", MEDIUM, True)],
    "fast": [("local motion", CHEAP, False), ("long-range motion", CHEAP, False), ("its check", CHEAP, False)],
    "balanced": [("local motion", CHEAP, False), ("long-range motion", CHEAP, False), ("its check", CHEAP, False)],
    "best": [("local motion", MEDIUM, True), ("its check", MEDIUM, False), ("long-range motion", CHEAP, True),
             ("its check", CHEAP, False)],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sequence", help="a folder of colour frames")
    parser.add_argument("--size", default="854x480")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    files = find_sequences([Path(args.sequence)])[0].frames[: args.frames + 1]
    full = [torch.from_numpy(grey_u8(cv2.resize(load_frame(f), (width, height), interpolation=cv2.INTER_AREA)))
            .float()[None, None] / 255.0 for f in files]
    work = [torch.nn.functional.interpolate(g, scale_factor=0.5, mode="area") for g in full]
    print(f"| preset | DIS calls a frame (ms each, median of {args.frames}) | total ms | × one flow call |")
    print("|---|---|---|---|")
    budget = None
    for preset, calls in CALLS.items():
        parts, total = [], 0.0
        for use, options, at_input in calls:
            greys = full if at_input else work
            motion = DISMotion(**options)  # type: ignore[arg-type]
            motion(greys[1], greys[0])  # the object for this size, made before timing
            times = []
            for a, b in zip(greys[1:], greys[:-1], strict=True):
                start = time.perf_counter()
                motion(a, b)
                times.append((time.perf_counter() - start) * 1000.0)
            ms = statistics.median(times)
            total += ms
            where = f"{greys[0].shape[-1]}×{greys[0].shape[-2]}"
            parts.append(f"{use}: DIS {options['preset']} at {where} {ms:.1f}")
        budget = budget or total
        print(f"| {preset} | {'; '.join(parts)} | {total:.1f} | {total / budget:.2f} |")


if __name__ == "__main__":
    main()
