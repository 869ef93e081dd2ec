"""Measure one benchmark configuration in this process: speed, memory and FLOPs of every stage.

A :class:`BenchConfig` names what to measure (``kind``: "engine", "filter" or "long_shot"), the
input size, the chroma working scale, the device, the precision and the CPU threads. Peak RSS is
monotonic over a process, so ``dvcp bench`` measures every configuration in a fresh subprocess:

    python -m dvcp_plugin.bench.measure CONFIG_JSON OUT_JSON

writes the result of :func:`measure` to ``OUT_JSON`` (nothing goes to stdout).

* ``engine``: per-stage milliseconds (downscale, motion, local plan, global, local apply, refine,
  upscale), end to end through :meth:`Engine.step` (wall time, and the CPU time of all the
  process's threads, which a busy machine inflates less), the once-per-keyframe preparation,
  exhaustive fine matching on the same features as the reference of the two-stage matching,
  FLOPs per stage and the conv activation bytes, and DIS-flow propagation of the same frames
  (:mod:`dvcp_plugin.bench.peers`) timed frame by frame between the end-to-end frames.
* ``filter``: ``dvcp_plugin.colorize`` over a generated YUV420P8 clip, frames requested one after
  the other, alternating with the engine alone and with flow propagation, then with several
  requests in flight (``get_frame_async``, a window of ``prefetch``).
* ``long_shot``: RSS sampled while a long shot streams through the filter with a bounded cache.

Frames are a synthetic texture that moves 2 pixels per frame; speed does not depend on content.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import torch

from ..errors import DvcpError
from .common import BenchConfig
from .engine_bench import measure_engine
from .filter_bench import measure_filter, measure_long_shot

_MEASURES: dict[str, Callable[[BenchConfig], dict[str, Any]]] = {
    "engine": measure_engine,
    "filter": measure_filter,
    "long_shot": measure_long_shot,
}


def measure(config: BenchConfig) -> dict[str, Any]:
    """Measure ``config`` in this process: its settings, ``status`` "measured" and the figures."""
    torch.set_num_threads(config.threads)
    cv2.setNumThreads(config.threads)  # DIS motion estimators and flow propagation
    figures = _MEASURES[config.kind](config)
    return {**asdict(config), "status": "measured", "torch_threads": torch.get_num_threads(), **figures}


def main(argv: list[str]) -> int:
    """Subprocess entry: ``CONFIG_JSON OUT_JSON``; the result (or the error) goes to OUT_JSON."""
    if len(argv) != 2:
        print("usage: python -m dvcp_plugin.bench.measure CONFIG_JSON OUT_JSON", file=sys.stderr)
        return 2
    config = BenchConfig(**json.loads(argv[0]))
    try:
        result = measure(config)
    except DvcpError as exc:
        result = {**asdict(config), "status": "failed", "reason": str(exc)}
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
