"""Local stage: predict a separable kernel per pixel from two grey frames and apply it to the previous chroma.

Follows SepConv (Niklaus et al. 2017) with a single vertical/horizontal kernel pair. Each 1-D kernel is
a softmax over its N taps, so the 2-D kernel is non-negative and sums to one: the output chroma is a
convex combination of the previous chroma, which preserves colours and never invents new ones.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from dvcp_plugin.models.sepconv import per_pixel_separable_conv
from dvcp_plugin.models.unet import UNet

_CENTRE_WEIGHT = 0.95  # weight of the centre tap of each untrained 1-D kernel
_HEAD_WEIGHT_SCALE = 0.1


class KernelPredictionNet(nn.Module):
    """Predict per-pixel vertical and horizontal kernels (softmax-normalised) from two grey frames."""

    def __init__(self, kernel_size: int = 13, widths: tuple[int, ...] = (16, 32, 64, 96)) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
        self.kernel_size = kernel_size
        self.body = UNet(2, tuple(widths))
        self.vertical_head = self._head(kernel_size)
        self.horizontal_head = self._head(kernel_size)

    def _head(self, kernel_size: int) -> nn.Conv2d:
        """conv3x3 -> N logits, initialised so the untrained kernel is close to a centred delta."""
        head = nn.Conv2d(self.body.out_channels, kernel_size, 3, padding=1)
        with torch.no_grad():
            head.weight.mul_(_HEAD_WEIGHT_SCALE)
            head.bias.zero_()
            if kernel_size > 1:
                head.bias[kernel_size // 2] = math.log(_CENTRE_WEIGHT * (kernel_size - 1) / (1 - _CENTRE_WEIGHT))
        return head

    def forward(self, grey_prev: Tensor, grey_cur: Tensor) -> tuple[Tensor, Tensor]:
        """Return (vertical, horizontal) kernels, each (B, N, H, W) and summing to 1 over N."""
        features = self.body(torch.cat([grey_prev, grey_cur], dim=1) - 0.5)  # centred input
        vertical = torch.softmax(self.vertical_head(features), dim=1)
        horizontal = torch.softmax(self.horizontal_head(features), dim=1)
        return vertical, horizontal


class LocalPropagation(nn.Module):
    """Carry the previous frame's chroma to the current frame with predicted per-pixel kernels."""

    def __init__(self, kernel_size: int = 13, widths: tuple[int, ...] = (16, 32, 64, 96)) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.net = KernelPredictionNet(kernel_size, widths)

    def forward(self, grey_prev: Tensor, grey_cur: Tensor, chroma_prev: Tensor) -> Tensor:
        """Return the current chroma (B, 2, H, W) from grey frames (B, 1, H, W) and the previous chroma."""
        vertical, horizontal = self.net(grey_prev, grey_cur)
        return per_pixel_separable_conv(chroma_prev, vertical, horizontal)
