"""Fusion and refinement: a small U-Net that corrects the local estimate using the global one."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dvcp_plugin.models.unet import UNet


class RefinementNet(nn.Module):
    """Fuse local and global chroma into the final chroma as ``local + correction``.

    Input is the 6-channel concatenation (grey 1, local chroma 2, global chroma 2, confidence 1). The
    last convolution is zero-initialised, so an untrained network returns the local estimate exactly.
    """

    def __init__(self, widths: tuple[int, ...] = (32, 64, 96)) -> None:
        super().__init__()
        self.body = UNet(6, tuple(widths))
        self.head = nn.Conv2d(self.body.out_channels, 2, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, grey: Tensor, local_chroma: Tensor, global_chroma: Tensor, confidence: Tensor) -> Tensor:
        """Return the refined chroma (B, 2, H, W)."""
        features = self.body(torch.cat([grey, local_chroma, global_chroma, confidence], dim=1))
        return local_chroma + self.head(features)
