"""Measuring ``dvcp_plugin.colorize``: frames requested one by one and several in flight, and the
memory of a long shot streamed through it.

Frames requested one by one alternate, frame by frame, with a frame of the engine alone (same
options) and one of DIS-flow propagation, so that the three are timed under the same load: the
filter's share of the time and dvcp's speed relative to flow do not depend on what else the
machine was doing when.
"""

from __future__ import annotations

import time
from collections import deque
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from .common import BenchConfig, Clock, current_rss_mb, key_rgb, peak_gpu_mb, peak_rss_mb, shot, texture
from .engine_bench import EngineRun, bench_engine
from .peers import FlowRun


def _texture_clip(width: int, height: int, length: int) -> Any:
    """A YUV420P8 clip of ``length`` frames of :func:`texture`, cropped from one wide frame (made once,
    however long the clip)."""
    import vapoursynth as vs

    core = vs.core
    wide = width + 2 * length
    samples = np.rint(255.0 * texture(0, height, wide)).astype(np.uint8)
    blank = core.std.BlankClip(format=vs.GRAY8, width=wide, height=height, length=1, keep=True)

    def draw(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        np.asarray(out[0])[...] = samples
        return out

    source = blank.std.ModifyFrame(blank, draw)
    # frame n is the window at 2·(length-n): the texture moves 2 px right per frame
    frames = [source.std.CropAbs(width, height, left=2 * (length - n)) for n in range(length)]
    return core.std.Splice(frames).resize.Point(format=vs.YUV420P8, range_s="full")


def _vs_clip(frames: list[torch.Tensor]) -> Any:
    """A YUV420P8 clip whose luma is ``frames`` (greys (H,W) holding 8-bit values), full range."""
    import vapoursynth as vs

    from ..filters.arrays import array_clip

    samples = [np.rint(255.0 * frame.numpy()).astype(np.uint8) for frame in frames]
    clip = array_clip(lambda n: samples[n], len(samples), samples[0], Fraction(24), lambda n: f"bench frame {n}")
    return clip.resize.Point(format=vs.YUV420P8, range_s="full")


def _colorize(config: BenchConfig, clip: Any, key: np.ndarray) -> Any:
    from .. import vsapi

    return vsapi.colorize(
        clip, {0: key}, preset=config.preset, weights=config.weights,
        device=config.device, half=config.half, chroma_scale=config.chroma_scale, threads=config.threads,
        cache_mb=config.cache_mb,
    )


def _request(node: Any, frames: range, in_flight: int) -> None:
    """Request ``frames`` in order keeping up to ``in_flight`` requests outstanding, as vspipe does."""
    pending: deque[Any] = deque()
    for n in frames:
        pending.append(node.get_frame_async(n))
        if len(pending) >= in_flight:
            pending.popleft().result()
    while pending:
        pending.popleft().result()


def measure_filter(config: BenchConfig) -> dict[str, Any]:
    """Milliseconds per frame of ``colorize``, requested one by one (alternating with the engine
    alone and with flow propagation) and with requests in flight."""
    import vapoursynth as vs

    engine = bench_engine(config)
    clock = Clock(engine.device)
    length = 1 + config.warmup + config.frames
    scene = shot(config, length)
    run, flow = EngineRun(engine, scene.greys, scene.key_chroma), FlowRun(scene.greys, scene.key_chroma)
    node = _colorize(config, _vs_clip(scene.greys), scene.key_rgb)
    for n in range(config.warmup + 1):  # the keyframe (features), then warm-up steps
        node.get_frame(n)
    for _ in range(config.warmup):
        run.step()
        flow.step()
    for n in range(config.warmup + 1, length):
        with clock.time("engine"):
            run.step()
        with clock.time("sequential"):
            node.get_frame(n)
        with clock.time("flow"):
            flow.step()
    del node

    node = _colorize(config, _vs_clip(scene.greys), scene.key_rgb)  # a new clip: a new pipeline, nothing cached
    for n in range(config.warmup + 1):
        node.get_frame(n)
    start = time.perf_counter()
    _request(node, range(config.warmup + 1, length), config.prefetch)
    in_flight = (time.perf_counter() - start) * 1000.0 / config.frames
    sequential, alone, flow_rate = clock.rate("sequential"), clock.rate("engine"), clock.rate("flow")
    return {
        "vs_threads": vs.core.num_threads, "prefetch": config.prefetch,
        "sequential": sequential, "in_flight": {"ms": in_flight, "fps": 1000.0 / in_flight},
        "engine": alone, "flow": flow_rate,
        "filter_adds_ms": sequential["ms"] - alone["ms"],
        "over_engine": sequential["fps"] / alone["fps"],
        "over_flow": sequential["fps"] / flow_rate["fps"],
        "peak_rss_mb": peak_rss_mb(), "peak_gpu_mb": peak_gpu_mb(engine.device),
    }


def _slope(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of (x, y) points; 0 for a single point."""
    if len(points) < 2:
        return 0.0
    xs, ys = np.array(points, dtype=np.float64).T
    return float(np.polyfit(xs, ys, 1)[0])


def measure_long_shot(config: BenchConfig) -> dict[str, Any]:
    """Current RSS sampled while ``config.frames`` frames stream through ``colorize`` in order."""
    node = _colorize(config, _texture_clip(config.width, config.height, config.frames),
                     key_rgb(config.height, config.width))
    samples: list[tuple[int, float]] = []
    every = max(1, config.frames // 20)
    for n in range(config.frames):
        node.get_frame(n)
        if (n + 1) % every == 0 or n + 1 == config.frames:
            samples.append((n + 1, current_rss_mb()))
    # after the first fifth of the shot the allocator and the result cache have settled
    start = max(1, config.frames // 5)
    settled = [(frame, mb) for frame, mb in samples if frame >= start]
    return {
        "rss_samples_mb": samples,
        "rss_settled_from_frame": start,
        "rss_growth_mb": settled[-1][1] - settled[0][1],
        "rss_slope_mb_per_100_frames": 100.0 * _slope(settled),
        "peak_rss_mb": peak_rss_mb(),
        "peak_gpu_mb": peak_gpu_mb(torch.device(config.device)),
    }
