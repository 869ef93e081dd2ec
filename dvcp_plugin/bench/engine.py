"""Measuring the engine: per-stage and end-to-end milliseconds, the motion estimator's share, the
exhaustive-matching reference (for two-stage matching stages), FLOPs and peak memory.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from ..models.color import rgb_to_luma_chroma
from ..models.global_stage import GlobalMatching
from ..models.matching import exhaustive_match
from ..models.motion import MotionEstimator
from ..runtime.engine import Engine, EngineConfig
from .common import STEP_STAGES, BenchConfig, Clock, current_rss_mb, key_rgb, peak_gpu_mb, peak_rss_mb, texture
from .flops import count_flops, two_stage

# the exhaustive reference keeps its distance chunk at or below this many float32 values (256 MiB)
_EXHAUSTIVE_CHUNK_VALUES = 2**26


def _key_chroma(height: int, width: int) -> torch.Tensor:
    rgb = torch.from_numpy(key_rgb(height, width)).permute(2, 0, 1).float() / 255.0
    return rgb_to_luma_chroma(rgb[None], "601")[1][0]


def _engine(config: BenchConfig) -> Engine:
    return Engine(
        EngineConfig(
            weights=config.weights, device=config.device, half=config.half,
            chroma_scale=config.chroma_scale, threads=config.threads,
        )
    )


class _TimedMotion(MotionEstimator):
    """A motion estimator that adds the time of every call to ``clock.spent``."""

    def __init__(self, inner: MotionEstimator, clock: Clock) -> None:
        self.inner, self.clock = inner, clock

    def __call__(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.clock.sync()
        start = time.perf_counter()
        flow = self.inner(source, target)
        self.clock.sync()
        self.clock.spent += (time.perf_counter() - start) * 1000.0
        return flow


@contextmanager
def _timed_motion(engine: Engine, clock: Clock) -> Iterator[None]:
    """Route the motion estimators of the engine's stages through :class:`_TimedMotion`."""
    stages = [m for m in (engine.local, engine.global_) if isinstance(getattr(m, "motion", None), MotionEstimator)]
    originals = [stage.motion for stage in stages]
    for stage in stages:
        stage.motion = _TimedMotion(stage.motion, clock)
    try:
        yield
    finally:
        for stage, original in zip(stages, originals):
            stage.motion = original


def _matching_ms(clock: Clock, glob: GlobalMatching, grey: torch.Tensor, key: Any, pairs_budget: int) -> dict[str, Any]:
    """Two-stage matching of one frame against exhaustive matching, timed on the same features.

    Exhaustive matching is timed on the first rows of queries (all of them when within budget);
    its cost is the same for every query row (each searches the whole key grid), so the time of
    the full grid is the time of the rows timed × (all rows / rows timed).
    """
    features = glob.extractor(grey)
    two_stage(glob, features, key)  # warm-up
    with clock.time("two_stage"):
        two_stage(glob, features, key)
    query = features.fine
    fine_h, fine_w = query.shape[2:]
    keys = key.features.fine.shape[2] * key.features.fine.shape[3]
    rows = max(1, min(fine_h, pairs_budget // max(1, keys * fine_w)))
    chunk = max(1, min(4096, _EXHAUSTIVE_CHUNK_VALUES // keys))
    subset = query[:, :, :rows]
    exhaustive_match(subset, key.features.fine, key.fine_chroma, chunk)  # warm-up
    with clock.time("exhaustive"):
        exhaustive_match(subset, key.features.fine, key.fine_chroma, chunk)
    exhaustive = clock.median("exhaustive") * fine_h / rows
    return {
        "two_stage_match_ms": clock.median("two_stage"),
        "exhaustive_match_ms": exhaustive,
        "exhaustive_over_two_stage": exhaustive / clock.median("two_stage"),
        "exhaustive_rows_timed": rows,
        "exhaustive_rows": fine_h,
        "exhaustive_chunk": chunk,
    }


def _stage_times(engine: Engine, clock: Clock, config: BenchConfig, greys: list[torch.Tensor], key: Any,
                 key_chroma: torch.Tensor) -> None:
    """Every stage of every frame timed on its own, synchronised around each."""
    size = (config.height, config.width)
    final = engine.key_output(key_chroma).final
    prev = engine.to_grey(greys[0])
    with _timed_motion(engine, clock):
        for n in range(1, len(greys)):
            timed = n > config.warmup
            with clock.time("downscale", timed):
                cur = engine.to_grey(greys[n])
            clock.spent = 0.0
            with clock.time("local_plan", timed):
                plan = engine.local.plan(prev, cur)
            plan_motion = clock.spent
            clock.spent = 0.0
            with clock.time("global", timed):
                global_chroma, confidence = engine.global_(cur, key)
            if timed:
                clock.samples.setdefault("motion", []).append(plan_motion + clock.spent)
                clock.samples["local_plan"][-1] -= plan_motion
                clock.samples["global"][-1] -= clock.spent
            with clock.time("local_apply", timed):
                local = engine.local.apply(plan, final)
            with clock.time("refine", timed):
                final = engine.refine(cur.work, local, plan.reliability, global_chroma, confidence).clamp(-0.5, 0.5)
            with clock.time("upscale", timed):
                engine.to_full(final, size)
            prev = cur


@torch.inference_mode()
def measure_engine(config: BenchConfig) -> dict[str, Any]:
    """Per-stage and end-to-end timings, FLOPs and peak memory of the engine (see the module doc)."""
    engine = _engine(config)
    clock = Clock(engine.device)
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
    _stage_times(engine, clock, config, greys, key, key_chroma)

    # end to end through the engine (warm by now), synchronised once per frame
    final = engine.key_output(key_chroma).final
    prev = engine.to_grey(greys[0])
    cpu_start = time.process_time()
    for n in range(1, config.frames + 1):
        with clock.time("end_to_end"):
            cur = engine.to_grey(greys[n])
            final = engine.step(key, prev, cur, final).final
            engine.to_full(final, size)
        prev = cur
    cpu_ms = (time.process_time() - cpu_start) * 1000.0 / config.frames
    peak_rss = peak_rss_mb()
    peak_gpu = peak_gpu_mb(engine.device)

    stages = {name: clock.median(name) for name in ("prepare_key", *STEP_STAGES)}
    result: dict[str, Any] = {
        "working": list(engine.working_size(*size)),
        "motion_size": list(engine.motion_size(*size)),
        "stage_names": dict(engine.stage_names),
        "stages_ms": stages,
        "motion_share": stages["motion"] / sum(stages[name] for name in STEP_STAGES),
        "end_to_end_ms": clock.median("end_to_end"),
        "end_to_end_samples_ms": clock.samples["end_to_end"],
        "end_to_end_cpu_ms": cpu_ms,
        "rss_after_setup_mb": setup_rss,
        "peak_rss_mb": peak_rss,
        "peak_gpu_mb": peak_gpu,
    }
    result["fps"] = 1000.0 / result["end_to_end_ms"]
    if isinstance(engine.global_, GlobalMatching):
        result.update(_matching_ms(clock, engine.global_, prev.work, key, config.exhaustive_pairs))
    result["flops"] = count_flops(engine, key, prev, cur, final, greys[0], key_chroma)
    return result
