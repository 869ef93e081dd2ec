"""What one frame costs: FLOPs per stage (counted by torch, or analytic), bytes moved, and the floor
that an H200's peak rates put under them (see docs/PERFORMANCE.md for what is counted).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..models.features import FeaturePair
from ..models.global_stage import GlobalMatching
from ..models.matching import two_stage_match
from ..models.resolution import Grey
from ..runtime.engine import Engine

# H200 SXM peak rates (dense, FLOP/s) and memory bandwidth (bytes/s) used for the floors
H200 = {"fp16_tensor": 989e12, "tf32_tensor": 494e12, "fp32": 67e12, "bandwidth": 4.8e12}


def two_stage(glob: GlobalMatching, query: FeaturePair, key: Any) -> Any:
    """The global stage's two-stage matching of a frame's features against the keyframe state ``key``."""
    ratio = glob.extractor.coarse_stride // glob.extractor.fine_stride
    return two_stage_match(query, key.features, key.fine_chroma, glob.roi_size, glob.chunk_size, stride_ratio=ratio)


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
    taps = int(getattr(local, "kernel_size", 0))
    return 2 * height * width * taps * (taps + 1)


def count_flops(
    engine: Engine, key: Any, prev: Grey, cur: Grey, final: torch.Tensor, key_grey: torch.Tensor,
    key_chroma: torch.Tensor,
) -> dict[str, Any]:
    """FLOPs of one frame per stage: counted conv/matmul FLOPs, analytic sepconv (and matching) MACs.

    Motion estimators run outside torch (DIS in OpenCV) and are not counted.
    """
    plan = engine.local.plan(prev, cur)
    glob_chroma, confidence = engine.global_(cur, key)
    local = engine.local.apply(plan, final)
    sepconv_macs = _sepconv_macs(engine.local, *cur.work.shape[-2:])
    taps = int(getattr(engine.local, "kernel_size", 0))

    def refine() -> Any:
        return engine.refine(cur.work, local, plan.reliability, glob_chroma, confidence)

    flops: dict[str, Any] = {
        "prepare_key": _flops(lambda: engine.prepare_key(key_grey, key_chroma)),
        "local_network": _flops(lambda: engine.local.plan(prev, cur)),
        "local_sepconv_analytic": 2 * sepconv_macs,
        "global": _flops(lambda: engine.global_(cur, key)),
        "refine": _flops(refine),
        "conv_activation_bytes": _conv_bytes(
            [engine.local, engine.global_, engine.refine],
            lambda: (engine.local.plan(prev, cur), engine.global_(cur, key), refine()),
        ),
        "sepconv_min_bytes": (2 * 2 + 2 * taps) * cur.work.shape[-2] * cur.work.shape[-1] * cur.work.element_size(),
    }
    glob = engine.global_
    if isinstance(glob, GlobalMatching):
        features = glob.extractor(cur.work)
        counts = _matching_counts(glob, features, key.features)
        flops.update({
            "global_features": _flops(lambda: glob.extractor(cur.work)),
            "global_match_counted": _flops(lambda: two_stage(glob, features, key)),
            "global_match_analytic": 2 * (counts["two_stage_coarse_macs"] + counts["two_stage_fine_macs"]),
            "exhaustive_match_analytic": 2 * counts["exhaustive_macs"],
            "matching_sizes": counts,
        })
    return flops


def floors(flops: dict[str, Any], half: bool) -> dict[str, float]:
    """Milliseconds an H200 needs at least for one frame's counted work (see docs/PERFORMANCE.md).

    Convolutions at the dense tensor rate of the precision (FP16, or TF32 that cuDNN uses for fp32
    convolutions by default); matching (always float32, matmul TF32 off) and the per-pixel
    separable convolution (elementwise) at the FP32 rate; bytes: every conv's input and output
    once, and the separable convolution's inputs and output once.
    """
    matching = flops.get("global_match_counted", 0)
    conv = flops["local_network"] + flops["global"] - matching + flops["refine"]
    scalar = matching + flops["local_sepconv_analytic"]
    rate = H200["fp16_tensor"] if half else H200["tf32_tensor"]
    compute = conv / rate + scalar / H200["fp32"]
    conv_bytes = flops["conv_activation_bytes"] * (0.5 if half else 1.0)  # counted in float32
    moved = conv_bytes + flops["sepconv_min_bytes"] * (0.5 if half else 1.0)
    return {"compute_ms": compute * 1e3, "bandwidth_ms": moved / H200["bandwidth"] * 1e3}
