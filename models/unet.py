"""Fully convolutional encoder–decoder with skip connections, shared by the local and refine stages."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """conv3x3-ReLU-conv3x3-ReLU, size preserving."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """Encoder–decoder returning ``widths[0]`` feature channels at the input's resolution.

    Encoder level l applies a double conv (to ``widths[l]`` channels) and, except at the deepest level,
    a 2×2 average pool. The decoder upsamples ×2 bilinearly, concatenates the skip and applies a double
    conv. The input is replicate-padded to a multiple of ``2**(len(widths)-1)`` and the output cropped
    back, so any height and width work. Convolutions use He initialisation so that activations keep
    their scale through the depth of the network.
    """

    def __init__(self, in_channels: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        if not widths:
            raise ValueError("widths must name at least one level")
        self.multiple = 2 ** (len(widths) - 1)
        self.out_channels = widths[0]
        channels = (in_channels, *widths)
        self.encoder = nn.ModuleList(_double_conv(channels[i], channels[i + 1]) for i in range(len(widths)))
        self.decoder = nn.ModuleList(
            _double_conv(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(len(widths) - 1))
        )
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        """Map (B, in_channels, H, W) to (B, widths[0], H, W)."""
        height, width = x.shape[-2:]
        pad_h = -height % self.multiple
        pad_w = -width % self.multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        skips: list[Tensor] = []
        for level, block in enumerate(self.encoder):
            if level:
                x = F.avg_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        skips.pop()
        for block in self.decoder:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skips.pop()], dim=1))
        return x[..., :height, :width]


class HalfResolutionUNet(nn.Module):
    """A cheap encoder–decoder: one full-resolution layer, a U-Net at half resolution, one layer back.

    The stem (3×3 conv to ``stem`` channels) runs at the input's resolution; its output is
    average-pooled ×2 and fed to a :class:`UNet` of ``widths``; that U-Net's output is upsampled ×2,
    concatenated with the stem's and mixed by a 3×3 conv to ``stem`` channels. Nearly all the work
    is at a quarter of the pixels, while edges still reach the output through the stem.
    """

    def __init__(self, in_channels: int, stem: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, stem, 3, padding=1), nn.ReLU(inplace=True))
        self.inner = UNet(stem, widths)
        self.mix = nn.Sequential(nn.Conv2d(widths[0] + stem, stem, 3, padding=1), nn.ReLU(inplace=True))
        self.multiple = 2 * self.inner.multiple
        self.out_channels = stem
        for module in (*self.stem.modules(), *self.mix.modules()):
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        """Map (B, in_channels, H, W) to (B, stem, H, W)."""
        height, width = x.shape[-2:]
        pad_h, pad_w = -height % self.multiple, -width % self.multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        stem = self.stem(x)
        inner = self.inner(F.avg_pool2d(stem, 2))
        inner = F.interpolate(inner, scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.mix(torch.cat([inner, stem], dim=1))[..., :height, :width]
