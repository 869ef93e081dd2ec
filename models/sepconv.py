"""Per-pixel separable convolution: every output pixel has its own vertical and horizontal kernel.

The 2-D kernel of pixel (y, x) is the outer product vertical[:, :, y, x] ⊗ horizontal[:, :, y, x].
The H×W×N×N kernel tensor is never built: the taps are applied one row at a time through an
``unfold`` view, so peak memory is O(B·C·H·W·N).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def _check_shapes(image: Tensor, vertical: Tensor, horizontal: Tensor) -> int:
    """Validate the shapes and return the kernel length N."""
    if image.dim() != 4:
        raise ValueError(f"image must be (B, C, H, W), got {tuple(image.shape)}")
    batch, _, height, width = image.shape
    for name, kernel in (("vertical", vertical), ("horizontal", horizontal)):
        if kernel.dim() != 4:
            raise ValueError(f"{name} kernels must be (B, N, H, W), got {tuple(kernel.shape)}")
        if (kernel.shape[0], kernel.shape[2], kernel.shape[3]) != (batch, height, width):
            raise ValueError(
                f"{name} kernels {tuple(kernel.shape)} do not match image {tuple(image.shape)}: "
                f"expected ({batch}, N, {height}, {width})"
            )
    size = vertical.shape[1]
    if horizontal.shape[1] != size:
        raise ValueError(f"vertical and horizontal kernel lengths differ: {size} vs {horizontal.shape[1]}")
    if size % 2 == 0:
        raise ValueError(f"kernel length must be odd, got {size}")
    return size


def per_pixel_separable_conv(image: Tensor, vertical: Tensor, horizontal: Tensor) -> Tensor:
    """Convolve each pixel of ``image`` (B,C,H,W) with its own separable kernel.

    ``vertical`` and ``horizontal`` are (B,N,H,W) with N odd. The image is replicate-padded by N//2,
    so tap (N//2, N//2) is the pixel itself:
    ``out[b,c,y,x] = Σ_i Σ_j vertical[b,i,y,x] · horizontal[b,j,y,x] · P[b,c,y+i,x+j]``.
    """
    size = _check_shapes(image, vertical, horizontal)
    height = image.shape[2]
    radius = size // 2
    padded = F.pad(image, (radius, radius, radius, radius), mode="replicate")
    taps = horizontal.permute(0, 2, 3, 1).unsqueeze(1)  # (B,1,H,W,N), broadcast over channels
    out = None
    for i in range(size):
        rows = padded[:, :, i : i + height, :].unfold(-1, size, 1)  # (B,C,H,W,N) view
        row_sum = (rows * taps).sum(dim=-1)  # (B,C,H,W)
        term = row_sum * vertical[:, i : i + 1]
        out = term if out is None else out + term
    assert out is not None  # size >= 1
    return out
