"""The working resolutions: chroma and the networks at one, motion at another, and the filter to both.

Every stage runs at the *chroma working resolution*. Motion is estimated on greys with more detail
where that is cheap: at the input's own resolution up to :data:`MOTION_PIXELS` pixels, never below
the working resolution. Inference (the engine) and training use these same functions, so the
networks are trained on exactly the downscaled frames they will see.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch.nn.functional as F
from torch import Tensor

# the motion resolution's pixel budget by default: about 854 x 480
MOTION_PIXELS = 410_000


class Grey(NamedTuple):
    """One grey frame (B,1,h,w) in [0, 1] at the working resolution and at the motion resolution."""

    work: Tensor
    motion: Tensor


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


def motion_scale(height: int, width: int, chroma_scale: float, requested: float | None = None) -> float:
    """The scale motion is estimated at: ``requested``, else the input's own resolution up to
    :data:`MOTION_PIXELS` pixels; never below ``chroma_scale``."""
    scale = requested if requested is not None else min(1.0, math.sqrt(MOTION_PIXELS / (height * width)))
    return max(chroma_scale, min(1.0, scale))


def grey_pyramid(grey: Tensor, work: tuple[int, int], motion: tuple[int, int]) -> Grey:
    """A full-resolution grey (..., 1, H, W) at the working and the motion resolution."""
    low = downscale(grey, work)
    return Grey(low, low if tuple(motion) == tuple(work) else downscale(grey, motion))
