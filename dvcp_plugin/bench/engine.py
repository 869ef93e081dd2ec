"""Measuring the engine: per-stage and end-to-end milliseconds, the exhaustive-matching reference,
FLOPs and peak memory of one configuration.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import DvcpError
from ..models.color import rgb_to_luma_chroma
from ..models.global_stage import GlobalMatching
from ..models.matching import exhaustive_match
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


def _global_parts(engine: Engine) -> GlobalMatching:
    if not isinstance(engine.global_, GlobalMatching):
        raise DvcpError(
            f"the benchmark times the parts of two-stage matching stages; global stage "
            f"{engine.stage_names['global']!r} is {type(engine.global_).__name__}"
        )
    return engine.global_


def _exhaustive_ms(clock: Clock, query: torch.Tensor, key: Any, pairs_budget: int) -> dict[str, Any]:
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
            match = two_stage(glob, features, key)
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
    peak_gpu = peak_gpu_mb(engine.device)

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
    result["flops"] = count_flops(engine, glob, key, prev, cur, final, greys[0], key_chroma)
    return result
