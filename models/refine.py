"""Fusion and refinement: networks that turn the local and the global estimate into the final chroma.

Every refine stage is called as ``stage(grey, local, reliability, global_, confidence)``, all at the
working resolution: the grey frame, the local estimate and its per-pixel reliability, the global
estimate and its confidence.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dvcp_plugin.models.unet import HalfResolutionUNet, UNet

_CHROMA_GAIN = 4.0  # chroma is small (|c| <~ 0.25 in practice); bring it to the range of the grey
_CORRECTION_SCALE = 0.1
_INITIAL_GAIN = 10.0
_MAX_SATURATION_GAIN = 2.0  # at most this much more chroma than the plain blend, where hues cancel


class RefinementNet(nn.Module):
    """Fuse local and global chroma into the final chroma as ``local + correction`` (the paper's CNN).

    Input is the 6-channel concatenation (grey 1, local chroma 2, global chroma 2, confidence 1); the
    local reliability is not used. The last convolution is zero-initialised, so an untrained
    network returns the local estimate exactly.
    """

    def __init__(self, widths: tuple[int, ...] = (32, 64, 96)) -> None:
        super().__init__()
        self.body = UNet(6, tuple(widths))
        self.head = nn.Conv2d(self.body.out_channels, 2, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)  # type: ignore[arg-type]  # the head has a bias

    def forward(
        self, grey: Tensor, local_chroma: Tensor, reliability: Tensor, global_chroma: Tensor, confidence: Tensor
    ) -> Tensor:
        """Return the refined chroma (B, 2, H, W)."""
        features = self.body(torch.cat([grey, local_chroma, global_chroma, confidence], dim=1))
        return local_chroma + self.head(features)


class ReliabilityFusion(nn.Module):
    """``final = local + a·(global − local) + correction``, with the blend ``a`` and the correction per pixel.

    A cheap network (:class:`HalfResolutionUNet`) sees the grey frame, both estimates, the local
    reliability and the global confidence. The blend is ``sigmoid(logit + gain·(confidence − ½))``:
    untrained (zero head, ``gain`` 10) it takes the global estimate where its confidence is high and
    the local one elsewhere, a rule the network then learns to correct. With ``keep_saturation`` the
    blend keeps the blended strength of the two estimates' chroma (at most twice the plain blend's),
    so that mixing two hues does not pale the colour that is fed back to the next frame.
    """

    def __init__(self, stem: int = 16, widths: tuple[int, ...] = (24, 32, 48), keep_saturation: bool = False) -> None:
        super().__init__()
        self.keep_saturation = keep_saturation
        self.body = HalfResolutionUNet(7, stem, tuple(widths))
        self.head = nn.Conv2d(stem, 3, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)  # type: ignore[arg-type]  # the head has a bias
        self.gain = nn.Parameter(torch.tensor(_INITIAL_GAIN))

    def forward(
        self, grey: Tensor, local_chroma: Tensor, reliability: Tensor, global_chroma: Tensor, confidence: Tensor
    ) -> Tensor:
        """Return the fused chroma (B, 2, H, W)."""
        x = torch.cat(
            [grey - 0.5, local_chroma * _CHROMA_GAIN, reliability, global_chroma * _CHROMA_GAIN, confidence], dim=1
        )
        out = self.head(self.body(x))
        blend = torch.sigmoid(out[:, :1] + self.gain * (confidence - 0.5))
        mixed = local_chroma + blend * (global_chroma - local_chroma)
        if self.keep_saturation:
            mixed = _with_blended_magnitude(mixed, local_chroma, global_chroma, blend)
        return mixed + out[:, 1:] * _CORRECTION_SCALE


def _with_blended_magnitude(mixed: Tensor, local: Tensor, global_: Tensor, blend: Tensor) -> Tensor:
    """``mixed`` rescaled to the blend of the two estimates' chroma magnitudes: averaging two colours of
    different hue would otherwise pale them, and the paler result is fed back to the next frame."""
    def magnitude(chroma: Tensor) -> Tensor:
        return chroma.norm(dim=1, keepdim=True)

    wanted = magnitude(local) + blend * (magnitude(global_) - magnitude(local))
    scale = (wanted / magnitude(mixed).clamp_min(1e-4)).clamp(1.0, _MAX_SATURATION_GAIN)
    return mixed * scale
