"""Scores of uint8 RGB frames against the truth (``dvcp eval`` and ``dvcp demo``): PSNR, SSIM, and
colour retention and drift (how much of the truth's chroma an output keeps at the end of a shot)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import kornia.metrics
import numpy as np
import torch

from ..models.color import rgb_to_luma_chroma

PSNR_CAP_DB = 100.0  # PSNR of identical images (MSE 0), which would otherwise be infinite
SSIM_WINDOW = 11
RETENTION_FRAMES = 10  # colour retention compares the last this many scored frames of a shot


def psnr(output: np.ndarray, truth: np.ndarray) -> float:
    """PSNR in dB (peak 255) of two uint8 images of the same shape; capped at PSNR_CAP_DB."""
    if output.shape != truth.shape:
        raise ValueError(f"images differ in shape: {output.shape} vs {truth.shape}")
    mse = float(np.mean((output.astype(np.float64) - truth.astype(np.float64)) ** 2))
    if mse == 0.0:
        return PSNR_CAP_DB
    return min(PSNR_CAP_DB, 10.0 * math.log10(255.0**2 / mse))


def mean_psnr(outputs: np.ndarray, truths: np.ndarray) -> float:
    """Mean :func:`psnr` of frames 1.. of two uint8 (N,H,W,3) shots; frame 0, the keyframe, is left out."""
    return float(np.mean([psnr(output, truth) for output, truth in zip(outputs[1:], truths[1:], strict=True)]))


def chroma_psnr(chroma: torch.Tensor, truth: torch.Tensor) -> float:
    """PSNR in dB of chroma planes (2,H,W), zero-centred, against the truth's, on the 8-bit scale (peak
    255): the colour alone, whatever the luma; capped at PSNR_CAP_DB."""
    if chroma.shape != truth.shape:
        raise ValueError(f"chroma planes differ in shape: {tuple(chroma.shape)} vs {tuple(truth.shape)}")
    mse = float(((chroma.double() - truth.double()) * 255.0).square().mean())
    if mse == 0.0:
        return PSNR_CAP_DB
    return min(PSNR_CAP_DB, 10.0 * math.log10(255.0**2 / mse))


def ssim(output: np.ndarray, truth: np.ndarray) -> float:
    """Mean SSIM of two uint8 RGB images (H, W, 3): Gaussian window 11, σ 1.5, values in [0, 1]."""
    if output.shape != truth.shape:
        raise ValueError(f"images differ in shape: {output.shape} vs {truth.shape}")
    a, b = (torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None].float() / 255.0 for x in (output, truth))
    return float(kornia.metrics.ssim(a, b, SSIM_WINDOW, max_val=1.0).mean())


def mean_chroma(rgb: np.ndarray) -> float:
    """Mean |CbCr| of a uint8 RGB image (H,W,3): BT.601 chroma of values in [0, 1], zero-centred."""
    tensor = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255.0
    _, chroma = rgb_to_luma_chroma(tensor, "601")
    return float(chroma.norm(dim=1).mean())


def colour_retention(output_chroma: Sequence[float], truth_chroma: Sequence[float]) -> float | None:
    """Mean :func:`mean_chroma` of the output over the last RETENTION_FRAMES frames ÷ the truth's.

    Both are per-frame values of the same scored frames in order; None when the truth has no colour there.
    """
    if len(output_chroma) != len(truth_chroma) or not truth_chroma:
        raise ValueError(
            f"expected per-frame values of the same frames, got {len(output_chroma)} and {len(truth_chroma)}"
        )
    truth = float(np.mean(truth_chroma[-RETENTION_FRAMES:]))
    if truth <= 0.0:
        return None
    return float(np.mean(output_chroma[-RETENTION_FRAMES:])) / truth


def colour_drift(retentions: Sequence[float | None]) -> float | None:
    """Mean |ln r| over the colour retentions r of several sequences (those that are defined); 0 is no drift.

    A retention of 0 (an output without any colour) counts as 1e-12, so its |ln r| is large but finite.
    """
    defined = [r for r in retentions if r is not None]
    if not defined:
        return None
    return float(np.mean([abs(math.log(max(r, 1e-12))) for r in defined]))
