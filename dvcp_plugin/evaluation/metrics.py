"""Scores of uint8 RGB frames against the truth: PSNR and SSIM (``dvcp eval`` and ``dvcp demo``)."""

from __future__ import annotations

import math

import kornia.metrics
import numpy as np
import torch

PSNR_CAP_DB = 100.0  # PSNR of identical images (MSE 0), which would otherwise be infinite
SSIM_WINDOW = 11


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


def ssim(output: np.ndarray, truth: np.ndarray) -> float:
    """Mean SSIM of two uint8 RGB images (H, W, 3): Gaussian window 11, σ 1.5, values in [0, 1]."""
    if output.shape != truth.shape:
        raise ValueError(f"images differ in shape: {output.shape} vs {truth.shape}")
    a, b = (torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None].float() / 255.0 for x in (output, truth))
    return float(kornia.metrics.ssim(a, b, SSIM_WINDOW, max_val=1.0).mean())
