"""Measuring the engine: per-stage and end-to-end milliseconds, the motion estimator's share, the
exhaustive-matching reference (for two-stage matching stages), FLOPs and peak memory, and DIS-flow
propagation of the same frames timed between the end-to-end frames.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from ..models.global_stage import GlobalMatching
from ..models.matching import exhaustive_match
from ..models.motion import MotionEstimator
from ..options import EngineOptions
from ..runtime.engine import Engine
from .common import STEP_STAGES, BenchConfig, Clock, current_rss_mb, peak_gpu_mb, peak_rss_mb, shot
from .flops import count_flops, two_stage
from .peers import FlowRun

# the exhaustive reference keeps its distance chunk at or below this many float32 values (256 MiB)
_EXHAUSTIVE_CHUNK_VALUES = 2**26


def bench_engine(config: BenchConfig) -> Engine:
    """The engine of ``config``: its weights, device, precision, chroma scale and threads."""
    return Engine(
        EngineOptions(
            preset=config.preset, weights=Path(config.weights) if config.weights is not None else None,
            device=config.device, half=config.half,
            chroma_scale=config.chroma_scale, threads=config.threads,
        )
    )


class EngineRun:
    """The engine end to end over a shot, one frame per :meth:`step`: to_grey, step, to_full."""

    def __init__(self, engine: Engine, frames: list[torch.Tensor], chroma: torch.Tensor) -> None:
        self.engine, self.frames = engine, frames
        self.size = (frames[0].shape[-2], frames[0].shape[-1])
        self.key = engine.prepare_key(frames[0], chroma)
        self.final = engine.key_output(chroma).final
        self.prev = engine.to_grey(frames[0])
        self.next = 1

    @torch.inference_mode()
    def step(self) -> None:
        """Colour the next frame of the shot, back at the input size on the CPU."""
        cur = self.engine.to_grey(self.frames[self.next])
        self.final = self.engine.step(self.key, self.prev, cur, self.final).final
        self.engine.to_full(self.final, self.size)
        self.prev, self.next = cur, self.next + 1


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
        for stage, original in zip(stages, originals, strict=True):
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


def _stage_times(engine: Engine, clock: Clock, config: BenchConfig, frames: list[torch.Tensor], key: Any,
                 chroma: torch.Tensor) -> None:
    """Every stage of every frame timed on its own, synchronised around each."""
    size = (config.height, config.width)
    final = engine.key_output(chroma).final
    prev = engine.to_grey(frames[0])
    with _timed_motion(engine, clock):
        for n in range(1, len(frames)):
            timed = n > config.warmup
            with clock.time("downscale", timed):
                cur = engine.to_grey(frames[n])
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


def measure_engine(config: BenchConfig) -> dict[str, Any]:
    """Per-stage and end-to-end timings, FLOPs and peak memory of the engine (see the module doc).

    All of it runs on one of the engine's threads: its stages called one by one get the engine's
    torch threads, and FLOPs are counted on the thread that does the work.
    """
    engine = bench_engine(config)
    return engine.run(_measure_engine, engine, config)


@torch.inference_mode()
def _measure_engine(engine: Engine, config: BenchConfig) -> dict[str, Any]:
    clock = Clock(engine.device)
    scene = shot(config, config.warmup + config.frames + 1)
    frames, chroma = scene.greys, scene.key_chroma
    setup_rss = current_rss_mb()
    if engine.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(engine.device)

    for n in range(config.warmup + 1):
        with clock.time("prepare_key", record=n >= config.warmup):
            key = engine.prepare_key(frames[0], chroma)
    _stage_times(engine, clock, config, frames, key, chroma)

    # end to end through the engine (warm by now), synchronised once per frame, each frame
    # followed by one of flow propagation
    run, flow = EngineRun(engine, frames, chroma), FlowRun(frames, chroma)
    for _ in range(config.warmup):
        flow.step()
    for _ in range(config.frames):
        with clock.time("end_to_end"):
            run.step()
        with clock.time("flow"):
            flow.step()
    peak_rss = peak_rss_mb()
    peak_gpu = peak_gpu_mb(engine.device)

    stages = {name: clock.median(name) for name in ("prepare_key", *STEP_STAGES)}
    end_to_end, flow_rate = clock.rate("end_to_end"), clock.rate("flow")
    result: dict[str, Any] = {
        "working": list(engine.working_size(config.height, config.width)),
        "motion_size": list(engine.motion_size(config.height, config.width)),
        "stage_names": dict(engine.stage_names),
        "stages_ms": stages,
        "motion_share": stages["motion"] / sum(stages[name] for name in STEP_STAGES),
        "end_to_end_ms": end_to_end["ms"],
        "end_to_end_samples_ms": clock.samples["end_to_end"],
        "end_to_end_cpu_ms": end_to_end["cpu_ms"],
        "fps": end_to_end["fps"],
        "flow": flow_rate,
        "over_flow": end_to_end["fps"] / flow_rate["fps"],
        "rss_after_setup_mb": setup_rss,
        "peak_rss_mb": peak_rss,
        "peak_gpu_mb": peak_gpu,
    }
    last = run.prev  # the last frame's grey; the FLOPs are counted on a step from it to itself
    if isinstance(engine.global_, GlobalMatching):
        result.update(_matching_ms(clock, engine.global_, last.work, key, config.exhaustive_pairs))
    result["flops"] = count_flops(engine, key, last, last, run.final, frames[0], chroma)
    return result
