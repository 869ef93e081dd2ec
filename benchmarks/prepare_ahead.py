"""End-to-end speed through ``dvcp_plugin.colorize`` with each chain step prepared in line or ahead on a worker.

Usage: ``.venv/bin/python benchmarks/prepare_ahead.py [--frames 30] [--rounds 2] [--threads 2]``

Each mode runs in a fresh process, the modes taking turns for ``--rounds`` rounds, on the same
854×480 clip (a texture moving 2 px per frame, one keyframe at frame 0) with the shipped weights
at chroma scale 0.5, frames requested through a 4-deep window as vspipe does:

* ``in-line``: the requesting thread prepares each step, then chains it (``workers=0``);
* ``worker``: a worker thread prepares the next frame while the requesting thread chains this one
  (``workers=1``; by default the state cache takes a worker only with cores for both, see
  :func:`dvcp_plugin.runtime.prepare_ahead.worker_count`).

``--tree PATH`` adds a mode that runs the dvcp source tree at PATH (a checkout of another version,
with ``filters`` and ``models`` linked into its ``dvcp_plugin``). Each line gives the fps over the
timed frames and the milliseconds per frame spent in each part of the work, by thread, and the
load average before and after the run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, os, sys, threading, time
from collections import defaultdict, deque
tree = os.environ.get("DVCP_TREE")
if tree:
    sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f)]
    sys.path.insert(0, tree)
import numpy as np
import vapoursynth as vs
import dvcp_plugin
from dvcp_plugin.runtime import engine as engine_module, pipeline

mode, frames, threads = os.environ["DVCP_MODE"], int(os.environ["DVCP_FRAMES"]), int(os.environ["DVCP_THREADS"])
if mode != "tree":
    import functools
    pipeline.StateCache = functools.partial(pipeline.StateCache, workers=int(mode == "worker"))
spent = defaultdict(float)

def timed(owner, name):
    original = getattr(owner, name)
    def run(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            worker = threading.current_thread().name.startswith("dvcp-prepare")
            spent[f"{name} ({'worker' if worker else 'request'})"] += time.perf_counter() - start
    setattr(owner, name, run)

for name in ("to_grey", "prepare", "chain", "step"):
    if hasattr(engine_module.Engine, name):
        timed(engine_module.Engine, name)
timed(pipeline.Pipeline, "_read_frame")

vs.core.num_threads = threads
width, height, length = 854, 480, frames + 4
yy, xx = np.mgrid[:height, : width + 2 * length].astype(np.float64)
wide = 0.5 + 0.4 * (np.sin(xx / 4.0) * np.cos(yy / 6.0) + 0.5 * np.sin((xx + yy) / 9.0)) / 1.5
samples = np.rint(255 * wide).astype(np.uint8)
blank = vs.core.std.BlankClip(format=vs.GRAY8, width=width + 2 * length, height=height, length=1, keep=True)


def _fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
    out = f.copy()
    np.copyto(np.asarray(out[0]), samples)
    return out


source = blank.std.ModifyFrame(blank, _fill)
clip = vs.core.std.Splice([source.std.CropAbs(width, height, left=2 * (length - n)) for n in range(length)])
clip = clip.resize.Point(format=vs.YUV420P8, range_s="full")
key = np.dstack([np.rint(255 * wide[:, :width] * c).astype(np.uint8) for c in (1.0, 0.6, 0.3)])
out = dvcp_plugin.colorize(clip, {0: key}, chroma_scale=0.5, threads=threads)
for n in range(4):  # warm-up: the weights, the keyframe, the first steps
    out.get_frame(n)
spent.clear()
window, start = deque(), time.perf_counter()
for n in range(4, length):
    window.append(out.get_frame_async(n))
    if len(window) > 4:
        window.popleft().result()
while window:
    window.popleft().result()
seconds = time.perf_counter() - start
print(json.dumps({"fps": frames / seconds, "ms": {k: 1000 * v / frames for k, v in sorted(spent.items())}}))
"""


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=30, help="timed frames per run (default 30)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each mode, taking turns (default 2)")
    parser.add_argument("--threads", type=int, default=2, help="torch and VapourSynth threads (default 2)")
    parser.add_argument("--tree", help="also run the dvcp source tree at this path")
    args = parser.parse_args()
    modes = [("in-line", None), ("worker", None)] + ([("tree", args.tree)] if args.tree else [])
    print(f"load average before: {_load()}")
    for round_ in range(1, args.rounds + 1):
        for mode, tree in modes:
            env = {**os.environ, "DVCP_MODE": mode, "DVCP_FRAMES": str(args.frames), "DVCP_THREADS": str(args.threads),
                   "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
            env.pop("OMP_NUM_THREADS", None)
            if tree:
                env["DVCP_TREE"] = tree
            done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True)
            if done.returncode:
                print(done.stderr, file=sys.stderr)
                return 1
            result = json.loads(done.stdout.strip().splitlines()[-1])
            parts = ", ".join(f"{name} {ms:.0f}" for name, ms in result["ms"].items())
            print(f"round {round_} {mode:8s} {result['fps']:.2f} fps   ms/frame: {parts}   load {_load()}", flush=True)
    print(f"load average after: {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
