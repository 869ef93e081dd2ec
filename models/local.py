"""Local stage: predict a separable kernel per pixel from two grey frames and apply it to the previous chroma.

Follows SepConv (Niklaus et al. 2017) with a single vertical/horizontal kernel pair. Each 1-D kernel is
a softmax over its N taps, so the 2-D kernel is non-negative and sums to one: the output chroma is a
convex combination of the previous chroma, which preserves colours and never invents new ones.

Every local stage works in two parts (see :mod:`dvcp_plugin.models.propagation`): ``plan(prev,
cur)`` computes everything that depends only on the grey frames (kernels, motion, reliability) and
can run ahead of the recursive chain; ``apply(plan, chroma_prev)`` is the recursive part.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from dvcp_plugin.models.resolution import Grey
from dvcp_plugin.models.sepconv import per_pixel_separable_conv
from dvcp_plugin.models.unet import UNet

_CENTRE_WEIGHT = 0.95  # weight of the centre tap of each untrained 1-D kernel
_HEAD_WEIGHT_SCALE = 0.1


class LocalPlan(NamedTuple):
    """What a local stage computes from the grey frames alone, before it sees the previous colours.

    ``vertical``/``horizontal``: per-pixel kernels (B,N,h,w); ``reliability`` (B,1,h,w) in [0, 1];
    ``flow``: the backward motion the previous colours are warped by first, when the stage has one.
    """

    vertical: Tensor
    horizontal: Tensor
    reliability: Tensor
    flow: Tensor | None = None


def kernel_head(in_channels: int, kernel_size: int, centre_weight: float, weight_scale: float) -> nn.Conv2d:
    """conv3x3 -> N logits, initialised so that the softmax kernel is close to a centred delta."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
    head = nn.Conv2d(in_channels, kernel_size, 3, padding=1)
    bias = head.bias
    assert bias is not None
    with torch.no_grad():
        head.weight.mul_(weight_scale)
        bias.zero_()
        if kernel_size > 1:
            bias[kernel_size // 2] = math.log(centre_weight * (kernel_size - 1) / (1 - centre_weight))
    return head


class KernelPredictionNet(nn.Module):
    """Predict per-pixel vertical and horizontal kernels (softmax-normalised) from two grey frames."""

    def __init__(self, kernel_size: int = 13, widths: tuple[int, ...] = (16, 32, 64, 96)) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.body = UNet(2, tuple(widths))
        self.vertical_head = kernel_head(self.body.out_channels, kernel_size, _CENTRE_WEIGHT, _HEAD_WEIGHT_SCALE)
        self.horizontal_head = kernel_head(self.body.out_channels, kernel_size, _CENTRE_WEIGHT, _HEAD_WEIGHT_SCALE)

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

    def plan(self, prev: Grey, cur: Grey) -> LocalPlan:
        """The kernels of every pixel from the two working-resolution greys; reliability 1."""
        vertical, horizontal = self.net(prev.work, cur.work)
        return LocalPlan(vertical, horizontal, torch.ones_like(cur.work))

    def apply(self, plan: LocalPlan, chroma_prev: Tensor) -> Tensor:  # type: ignore[override]  # the local stage's
        """The current chroma (B,2,h,w): the previous chroma convolved with each pixel's kernel."""
        return per_pixel_separable_conv(chroma_prev, plan.vertical, plan.horizontal)

    def forward(self, prev: Grey, cur: Grey, chroma_prev: Tensor) -> tuple[Tensor, Tensor]:
        """(chroma, reliability) of the current frame: :meth:`plan` then :meth:`apply`."""
        plan = self.plan(prev, cur)
        return self.apply(plan, chroma_prev), plan.reliability
