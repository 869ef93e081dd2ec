"""Measuring ``dvcp_plugin.colorize``: frames requested one by one and several in flight, and the
memory of a long shot streamed through it.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import numpy as np
import torch

from .common import BenchConfig, current_rss_mb, key_rgb, peak_gpu_mb, peak_rss_mb, texture

def _vs_clip(width: int, height: int, length: int) -> Any:
    """A YUV420P8 clip of ``length`` frames of :func:`texture`, cropped from one wide frame."""
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


def _colorize(config: BenchConfig, length: int) -> Any:
    from .. import vsapi

    clip = _vs_clip(config.width, config.height, length)
    return vsapi.colorize(
        clip, {0: key_rgb(config.height, config.width)}, weights=config.weights, device=config.device,
        half=config.half, chroma_scale=config.chroma_scale, threads=config.threads, cache_mb=config.cache_mb,
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
    """Milliseconds per frame of ``colorize`` requested sequentially and with requests in flight."""
    import vapoursynth as vs

    device = torch.device(config.device)
    length = 1 + config.warmup + config.frames
    result: dict[str, Any] = {"vs_threads": vs.core.num_threads, "prefetch": config.prefetch}
    for mode in ("sequential", "in_flight"):
        node = _colorize(config, length)  # a new clip: a new pipeline, nothing cached
        for n in range(config.warmup + 1):  # the keyframe (features), then warm-up steps
            node.get_frame(n)
        start = time.perf_counter()
        _request(node, range(config.warmup + 1, length), 1 if mode == "sequential" else config.prefetch)
        ms = (time.perf_counter() - start) * 1000.0 / config.frames
        result[mode] = {"ms": ms, "fps": 1000.0 / ms}
        del node
    result["peak_rss_mb"] = peak_rss_mb()
    result["peak_gpu_mb"] = peak_gpu_mb(device)
    return result


def _slope(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of (x, y) points; 0 for a single point."""
    if len(points) < 2:
        return 0.0
    xs, ys = np.array(points, dtype=np.float64).T
    return float(np.polyfit(xs, ys, 1)[0])


def measure_long_shot(config: BenchConfig) -> dict[str, Any]:
    """Current RSS sampled while ``config.frames`` frames stream through ``colorize`` in order."""
    node = _colorize(config, config.frames)
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
