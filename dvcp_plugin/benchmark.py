"""Measure one benchmark configuration in this process: speed, memory and FLOPs of every stage.

A :class:`BenchConfig` names what to measure (``kind``: "engine", "filter" or "long_shot"), the
input size, the chroma working scale, the device, the precision and the CPU threads. Peak RSS is
monotonic over a process, so ``dvcp bench`` measures every configuration in a fresh subprocess:

    python -m dvcp_plugin.benchmark CONFIG_JSON OUT_JSON

writes the result of :func:`measure` to ``OUT_JSON`` (nothing goes to stdout).

* ``engine``: per-stage milliseconds (downscale, local, global = frame features + two-stage
  matching + upsampling, refine, upscale), end to end through :meth:`Engine.step` (wall time,
  and the CPU time of all the process's threads, which a busy machine inflates less), the
  once-per-keyframe preparation, exhaustive fine matching on the same features as the reference
  of the two-stage matching, FLOPs per stage and the conv activation bytes.
* ``filter``: ``dvcp_plugin.colorize`` over a generated YUV420P8 clip, frames requested one after
  the other, then with several requests in flight (``get_frame_async``, a window of ``prefetch``).
* ``long_shot``: RSS sampled while a long shot streams through the filter with a bounded cache.

Frames are a synthetic texture that moves 2 pixels per frame; speed does not depend on content.
"""

from __future__ import annotations

import json
import math
import resource
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from .runtime.engine import Engine, EngineConfig
from .errors import DvcpError
from .models.features import FeaturePair
from .models.global_stage import GlobalMatching
from .models.local import LocalPropagation
from .models.matching import exhaustive_match, two_stage_match

KINDS = ("engine", "filter", "long_shot")
# stage timings of an engine entry, in the order a frame runs them
STEP_STAGES = ("downscale", "local", "global_features", "global_match", "global_upsample", "refine", "upscale")
# the exhaustive reference keeps its distance chunk at or below this many float32 values (256 MiB)
_EXHAUSTIVE_CHUNK_VALUES = 2**26


@dataclass(frozen=True)
class BenchConfig:
    """One configuration to measure; see the module doc for the kinds."""

    kind: str
    width: int
    height: int
    chroma_scale: float
    weights: str
    device: str = "cpu"
    half: bool = False
    threads: int = 1
    frames: int = 3  # timed frames (long_shot: frames streamed)
    warmup: int = 1
    prefetch: int = 4  # filter: requests in flight
    cache_mb: float = 1024  # filter and long_shot: the colorize cache bound
    exhaustive_pairs: int = 4 * 10**9  # engine: most query·key pairs timed by the exhaustive reference

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise DvcpError(f"unknown benchmark kind {self.kind!r}; use one of {', '.join(KINDS)}")
        if self.width < 8 or self.height < 8:
            raise DvcpError(f"benchmark size {self.width}x{self.height} is too small; use at least 8x8")
        if self.frames < 1 or self.warmup < 0 or self.threads < 1 or self.prefetch < 1:
            raise DvcpError("frames, threads and prefetch must be positive and warmup not negative")


@dataclass
class _Clock:
    """Wall-clock timing that waits for the device's queued work."""

    device: torch.device
    samples: dict[str, list[float]] = field(default_factory=dict)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextmanager
    def time(self, name: str, record: bool = True) -> Iterator[None]:
        self.sync()
        start = time.perf_counter()
        yield
        self.sync()
        if record:
            self.samples.setdefault(name, []).append((time.perf_counter() - start) * 1000.0)

    def median(self, name: str) -> float:
        return statistics.median(self.samples[name])


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    """Resident set size of this process now, in MiB."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _peak_gpu_mb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def texture(n: int, height: int, width: int) -> np.ndarray:
    """Frame ``n`` of a grey texture moving 2 px right per frame: float32 (H,W) in [0.1, 0.9]."""
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    wave = np.sin((xx - 2 * n) / 7.0) * np.cos(yy / 11.0) + 0.5 * np.sin((xx + yy - 2 * n) / 17.0)
    return 0.5 + 0.4 * wave / 1.5


def key_rgb(height: int, width: int) -> np.ndarray:
    """A smooth colour keyframe, uint8 (H,W,3), whose luma follows frame 0 of :func:`texture`."""
    grey = texture(0, height, width)
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    tint = np.stack([np.sin(xx / width * math.pi), np.cos(yy / height * math.pi), np.sin((xx + yy) / 97.0)], -1)
    return np.clip(255.0 * (grey[..., None] + 0.15 * tint), 0, 255).astype(np.uint8)


def _key_chroma(height: int, width: int) -> torch.Tensor:
    from .models.color import rgb_to_luma_chroma

    rgb = torch.from_numpy(key_rgb(height, width)).permute(2, 0, 1).float() / 255.0
    return rgb_to_luma_chroma(rgb[None], "601")[1][0]


def _engine(config: BenchConfig) -> Engine:
    return Engine(
        EngineConfig(
            weights=config.weights, device=config.device, half=config.half,
            chroma_scale=config.chroma_scale, threads=config.threads,
        )
    )


def _flops(function: Callable[[], Any]) -> int:
    """Conv and matmul FLOPs that ``function`` executes, counted by torch's FlopCounterMode."""
    with FlopCounterMode(display=False) as counter:
        function()
    return int(counter.get_total_flops())


def _conv_bytes(modules: list[torch.nn.Module], function: Callable[[], Any]) -> int:
    """Bytes every Conv2d of ``modules`` reads (its input) and writes (its output) while ``function`` runs."""
    total = 0

    def hook(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        total += sum(t.numel() * t.element_size() for t in (*inputs, output))

    handles = [m.register_forward_hook(hook) for root in modules for m in root.modules()
               if isinstance(m, torch.nn.Conv2d)]
    try:
        function()
    finally:
        for handle in handles:
            handle.remove()
    return total


def _global_parts(engine: Engine) -> GlobalMatching:
    if not isinstance(engine.global_, GlobalMatching):
        raise DvcpError(
            f"the benchmark times the parts of two-stage matching stages; global stage "
            f"{engine.stage_names['global']!r} is {type(engine.global_).__name__}"
        )
    return engine.global_


def _two_stage(glob: GlobalMatching, query: FeaturePair, key: Any) -> Any:
    ratio = glob.extractor.coarse_stride // glob.extractor.fine_stride
    return two_stage_match(query, key.features, key.chroma, glob.roi_size, glob.chunk_size, stride_ratio=ratio)


def _matching_counts(glob: GlobalMatching, query: FeaturePair, key: FeaturePair) -> dict[str, int]:
    """Analytic multiply-accumulates of the distance products (the matchers' only matmuls)."""
    ratio = glob.extractor.coarse_stride // glob.extractor.fine_stride
    roi = 3 * ratio if glob.roi_size is None else glob.roi_size
    nq_c = query.coarse.shape[2] * query.coarse.shape[3]
    nk_c = key.coarse.shape[2] * key.coarse.shape[3]
    nq_f = query.fine.shape[2] * query.fine.shape[3]
    nk_f = key.fine.shape[2] * key.fine.shape[3]
    window = min(roi, key.fine.shape[2]) * min(roi, key.fine.shape[3])
    coarse, fine = query.coarse.shape[1], query.fine.shape[1]
    return {
        "two_stage_coarse_macs": nq_c * nk_c * coarse,
        "two_stage_fine_macs": nq_f * window * fine,
        "exhaustive_macs": nq_f * nk_f * fine,
        "fine_queries": nq_f,
        "fine_keys": nk_f,
        "coarse_queries": nq_c,
        "coarse_keys": nk_c,
        "roi": roi,
    }


def _sepconv_macs(local: torch.nn.Module, height: int, width: int) -> int:
    """Per-pixel separable convolution: N row sums of N taps and N vertical weights per pixel and channel."""
    taps = local.kernel_size if isinstance(local, LocalPropagation) else 0
    return 2 * height * width * taps * (taps + 1)


def _exhaustive_ms(clock: _Clock, query: torch.Tensor, key: Any, pairs_budget: int) -> dict[str, Any]:
    """Time exhaustive matching of the first rows of ``query`` (all of them when within budget).

    Its cost is the same for every query row (each searches the whole key grid), so the time of
    the full grid is the time of the rows timed × (all rows / rows timed).
    """
    fine_h, fine_w = query.shape[2:]
    keys = key.features.fine.shape[2] * key.features.fine.shape[3]
    rows = max(1, min(fine_h, pairs_budget // max(1, keys * fine_w)))
    chunk = max(1, min(4096, _EXHAUSTIVE_CHUNK_VALUES // keys))
    subset = query[:, :, :rows]
    exhaustive_match(subset, key.features.fine, key.chroma, chunk)  # warm-up
    with clock.time("exhaustive"):
        exhaustive_match(subset, key.features.fine, key.chroma, chunk)
    return {
        "exhaustive_match_ms": clock.median("exhaustive") * fine_h / rows,
        "exhaustive_rows_timed": rows,
        "exhaustive_rows": fine_h,
        "exhaustive_chunk": chunk,
    }


@torch.inference_mode()
def measure_engine(config: BenchConfig) -> dict[str, Any]:
    """Per-stage and end-to-end timings, FLOPs and peak memory of the engine (see the module doc)."""
    engine = _engine(config)
    glob = _global_parts(engine)
    clock = _Clock(engine.device)
    size = (config.height, config.width)
    count = config.warmup + config.frames
    greys = [torch.from_numpy(texture(n, *size)) for n in range(count + 1)]
    key_chroma = _key_chroma(*size)
    setup_rss = current_rss_mb()
    if engine.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(engine.device)

    for n in range(config.warmup + 1):
        with clock.time("prepare_key", record=n >= config.warmup):
            key = engine.prepare_key(greys[0], key_chroma)

    # per stage, synchronised around every stage
    final = engine.key_output(key_chroma).final
    prev = engine.to_working(greys[0])
    for n in range(1, count + 1):
        timed = n > config.warmup
        with clock.time("downscale", timed):
            cur = engine.to_working(greys[n])
        with clock.time("local", timed):
            local = engine.local(prev, cur, final)
        with clock.time("global_features", timed):
            features = glob.extractor(cur)
        with clock.time("global_match", timed):
            match = _two_stage(glob, features, key)
        with clock.time("global_upsample", timed):
            work = tuple(cur.shape[-2:])
            global_chroma = F.interpolate(match.chroma, size=work, mode="bilinear", align_corners=False)
            confidence = F.interpolate(match.confidence, size=work, mode="bilinear", align_corners=False)
        with clock.time("refine", timed):
            final = engine.refine(cur, local, global_chroma, confidence).clamp(-0.5, 0.5)
        with clock.time("upscale", timed):
            engine.to_full(final, size)
        prev = cur

    # end to end through the engine (warm by now), synchronised once per frame
    final = engine.key_output(key_chroma).final
    prev = engine.to_working(greys[0])
    cpu_start = time.process_time()
    for n in range(1, config.frames + 1):
        with clock.time("end_to_end"):
            cur = engine.to_working(greys[n])
            final = engine.step(key, prev, cur, final).final
            engine.to_full(final, size)
        prev = cur
    cpu_ms = (time.process_time() - cpu_start) * 1000.0 / config.frames
    peak_rss = peak_rss_mb()
    peak_gpu = _peak_gpu_mb(engine.device)

    result: dict[str, Any] = {
        "working": list(engine.working_size(*size)),
        "stage_names": dict(engine.stage_names),
        "stages_ms": {name: clock.median(name) for name in ("prepare_key", *STEP_STAGES)},
        "end_to_end_ms": clock.median("end_to_end"),
        "end_to_end_samples_ms": clock.samples["end_to_end"],
        "end_to_end_cpu_ms": cpu_ms,
        "rss_after_setup_mb": setup_rss,
        "peak_rss_mb": peak_rss,
        "peak_gpu_mb": peak_gpu,
    }
    result["fps"] = 1000.0 / result["end_to_end_ms"]
    stages = result["stages_ms"]
    stages["global"] = stages["global_features"] + stages["global_match"] + stages["global_upsample"]
    result.update(_exhaustive_ms(clock, features.fine, key, config.exhaustive_pairs))
    result["exhaustive_over_two_stage"] = result["exhaustive_match_ms"] / stages["global_match"]
    result["flops"] = _count(engine, glob, key, prev, cur, final, greys[0], key_chroma)
    return result


def _count(
    engine: Engine, glob: GlobalMatching, key: Any, prev: torch.Tensor, cur: torch.Tensor,
    final: torch.Tensor, key_grey: torch.Tensor, key_chroma: torch.Tensor,
) -> dict[str, Any]:
    """FLOPs of one frame per stage: counted conv/matmul FLOPs, analytic sepconv and matching MACs."""
    features = glob.extractor(cur)
    match = _two_stage(glob, features, key)
    local = engine.local(prev, cur, final)
    glob_chroma = F.interpolate(match.chroma, size=tuple(cur.shape[-2:]), mode="bilinear", align_corners=False)
    confidence = F.interpolate(match.confidence, size=tuple(cur.shape[-2:]), mode="bilinear", align_corners=False)
    counts = _matching_counts(glob, features, key.features)
    sepconv_macs = _sepconv_macs(engine.local, *cur.shape[-2:])
    return {
        "prepare_key": _flops(lambda: engine.prepare_key(key_grey, key_chroma)),
        "local_network": _flops(lambda: engine.local(prev, cur, final)),
        "local_sepconv_analytic": 2 * sepconv_macs,
        "global_features": _flops(lambda: glob.extractor(cur)),
        "global_match_counted": _flops(lambda: _two_stage(glob, features, key)),
        "global_match_analytic": 2 * (counts["two_stage_coarse_macs"] + counts["two_stage_fine_macs"]),
        "exhaustive_match_analytic": 2 * counts["exhaustive_macs"],
        "refine": _flops(lambda: engine.refine(cur, local, glob_chroma, confidence)),
        "matching_sizes": counts,
        "conv_activation_bytes": _conv_bytes(
            [engine.local, glob.extractor, engine.refine],
            lambda: (engine.local(prev, cur, final), glob.extractor(cur),
                     engine.refine(cur, local, glob_chroma, confidence)),
        ),
        "sepconv_min_bytes": (2 * 2 + 2 * engine.local.kernel_size) * cur.shape[-2] * cur.shape[-1]
        * cur.element_size() if isinstance(engine.local, LocalPropagation) else 0,
    }


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
    from . import vsapi

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
    result["peak_gpu_mb"] = _peak_gpu_mb(device)
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
        "peak_gpu_mb": _peak_gpu_mb(torch.device(config.device)),
    }


_MEASURES: dict[str, Callable[[BenchConfig], dict[str, Any]]] = {
    "engine": measure_engine,
    "filter": measure_filter,
    "long_shot": measure_long_shot,
}


def measure(config: BenchConfig) -> dict[str, Any]:
    """Measure ``config`` in this process: its settings, ``status`` "measured" and the figures."""
    torch.set_num_threads(config.threads)
    figures = _MEASURES[config.kind](config)
    return {**asdict(config), "status": "measured", "torch_threads": torch.get_num_threads(), **figures}


def main(argv: list[str]) -> int:
    """Subprocess entry: ``CONFIG_JSON OUT_JSON``; the result (or the error) goes to OUT_JSON."""
    if len(argv) != 2:
        print("usage: python -m dvcp_plugin.benchmark CONFIG_JSON OUT_JSON", file=sys.stderr)
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
