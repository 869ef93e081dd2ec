"""The chroma working resolution: its size, and the filter that takes frames down to it.

Inference (the engine) and training use these same two functions, so the networks are trained on
exactly the downscaled frames they will see.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def working_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """The working resolution of a ``height`` × ``width`` frame at ``scale`` (at least 8×8)."""
    return max(8, round(height * scale)), max(8, round(width * scale))


def downscale(image: Tensor, size: tuple[int, int]) -> Tensor:
    """(..., C, H, W) -> (..., C, h, w): bilinear with antialiasing; unchanged when sizes agree."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    batched = image if image.dim() == 4 else image.reshape(-1, *image.shape[-3:])
    out = F.interpolate(batched, size=size, mode="bilinear", antialias=True, align_corners=False)
    return out.reshape(*image.shape[:-2], *size)
