"""Colour space of the models: full-range Y'CbCr with zero-centred chroma.

Luma lies in [0, 1]; Cb and Cr lie in [-0.5, 0.5]. BT.601 goes through kornia (whose chroma carries
a +0.5 offset, removed here); BT.709 uses the same formula with its own coefficients, since kornia
only implements BT.601. :func:`grey_u8` is the 8-bit grey of an RGB frame that training,
evaluation and the demo take as the black-and-white input.
"""

from __future__ import annotations

import kornia.color
import numpy as np
import torch
from torch import Tensor

MATRICES: dict[str, tuple[float, float]] = {
    "601": (0.299, 0.114),
    "709": (0.2126, 0.0722),
}
# H.273 matrix_coefficients codes (a frame's _Matrix) that name a working matrix: 5 and 6 are both BT.601
FRAME_MATRICES: dict[int, str] = {1: "709", 5: "601", 6: "601"}
# the names of the working matrices a matrix option takes: their own, and VapourSynth's resizers' (matrix_s)
MATRIX_NAMES: dict[str, str] = {"601": "601", "709": "709", "170m": "601", "470bg": "601"}


def _coefficients(matrix: str) -> tuple[float, float]:
    """Return (Kr, Kb) of ``matrix`` or raise a ValueError naming the choices."""
    try:
        return MATRICES[matrix]
    except KeyError:
        choices = ", ".join(repr(name) for name in MATRICES)
        raise ValueError(f"unknown colour matrix {matrix!r}; choose one of {choices}") from None


def _check_rgb(rgb: Tensor) -> None:
    if rgb.dim() != 4 or rgb.shape[1] != 3:
        raise ValueError(f"expected RGB of shape (B, 3, H, W), got {tuple(rgb.shape)}")


def rgb_to_luma_chroma(rgb: Tensor, matrix: str = "601") -> tuple[Tensor, Tensor]:
    """Split RGB (B,3,H,W) in [0,1] into luma (B,1,H,W) and zero-centred chroma (B,2,H,W)."""
    kr, kb = _coefficients(matrix)
    _check_rgb(rgb)
    if matrix == "601":
        ycbcr = kornia.color.rgb_to_ycbcr(rgb)
        return ycbcr[:, :1], ycbcr[:, 1:] - 0.5
    r, g, b = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    luma = kr * r + (1.0 - kr - kb) * g + kb * b
    cb = (b - luma) / (2.0 * (1.0 - kb))
    cr = (r - luma) / (2.0 * (1.0 - kr))
    return luma, torch.cat([cb, cr], dim=1)


def luma_chroma_to_rgb(luma: Tensor, chroma: Tensor, matrix: str = "601") -> Tensor:
    """Combine luma (B,1,H,W) and zero-centred chroma (B,2,H,W) into RGB (B,3,H,W) clamped to [0,1]."""
    kr, kb = _coefficients(matrix)
    if luma.dim() != 4 or luma.shape[1] != 1:
        raise ValueError(f"expected luma of shape (B, 1, H, W), got {tuple(luma.shape)}")
    if chroma.dim() != 4 or chroma.shape[1] != 2 or chroma.shape[2:] != luma.shape[2:]:
        raise ValueError(
            f"expected chroma of shape (B, 2, {luma.shape[2]}, {luma.shape[3]}), got {tuple(chroma.shape)}"
        )
    if matrix == "601":
        rgb = kornia.color.ycbcr_to_rgb(torch.cat([luma, chroma + 0.5], dim=1))
    else:
        cb, cr = chroma[:, 0:1], chroma[:, 1:2]
        r = luma + 2.0 * (1.0 - kr) * cr
        b = luma + 2.0 * (1.0 - kb) * cb
        g = (luma - kr * r - kb * b) / (1.0 - kr - kb)
        rgb = torch.cat([r, g, b], dim=1)
    return rgb.clamp(0.0, 1.0)


def grey_u8(rgb: np.ndarray) -> np.ndarray:
    """BT.601 full-range luma of 8-bit RGB (..., 3), rounded to 8 bits: round(0.299R + 0.587G + 0.114B)."""
    rgb = rgb.astype(np.float64)
    luma = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    return np.clip(np.floor(luma + 0.5), 0, 255).astype(np.uint8)
