"""Fusion and refinement: networks that turn the local and the global estimate into the final chroma.

Every refine stage is called as ``stage(grey, local, reliability, global_, confidence)``, all at the
working resolution: the grey frame, the local estimate and its per-pixel reliability, the global
estimate and its confidence.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dvcp_plugin.models.motion import vector_length
from dvcp_plugin.models.unet import HalfResolutionUNet, UNet

_CHROMA_GAIN = 4.0  # chroma is small (|c| <~ 0.25 in practice); bring it to the range of the grey
_CORRECTION_SCALE = 0.1
_INITIAL_GAIN = 10.0
_MAX_SATURATION_GAIN = 2.0  # at most this much more chroma than the plain blend, where hues cancel
# the local estimate's reliability is no support at all below this, full support above the next
_SUPPORT_LOW, _SUPPORT_HIGH = 0.2, 0.7


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
    the local one elsewhere, a rule the network then learns to correct. With ``reliability_gain`` h
    the rule also adds ``h·(½ − s)``, s the local estimate's support (its reliability ramped from 0 at
    0.2 to 1 at 0.7): where the motion that carried the local colours has failed (content that moved
    away, an occlusion), the blend leans to what the keyframe supports, so those colours do not
    persist at full strength. With ``keep_saturation`` the
    blend keeps the blended strength of the two estimates' chroma (at most twice the plain blend's),
    so that mixing two hues does not pale the colour that is fed back to the next frame.
    """

    def __init__(
        self,
        stem: int = 16,
        widths: tuple[int, ...] = (24, 32, 48),
        keep_saturation: bool = False,
        network: bool = True,
        net_scale: int = 1,
        reliability_gain: float = 0.0,
    ) -> None:
        super().__init__()
        self.keep_saturation = keep_saturation
        self.reliability_gain = reliability_gain
        self.network, self.net_scale = network, net_scale
        self.body = HalfResolutionUNet(7, stem, tuple(widths))
        self.head = nn.Conv2d(stem, 3, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)  # type: ignore[arg-type]  # the head has a bias
        self.gain = nn.Parameter(torch.tensor(_INITIAL_GAIN))

    def forward(
        self, grey: Tensor, local_chroma: Tensor, reliability: Tensor, global_chroma: Tensor, confidence: Tensor
    ) -> Tensor:
        """Return the fused chroma (B, 2, H, W)."""
        rule = self.gain * (confidence - 0.5)
        if self.reliability_gain:  # where the local estimate has lost its support, lean to the keyframe's
            support = ((reliability - _SUPPORT_LOW) / (_SUPPORT_HIGH - _SUPPORT_LOW)).clamp(0.0, 1.0)
            rule = rule + self.reliability_gain * (0.5 - support)
        if not self.network:
            return self._blend(local_chroma, global_chroma, torch.sigmoid(rule))
        x = torch.cat(
            [grey - 0.5, local_chroma * _CHROMA_GAIN, reliability, global_chroma * _CHROMA_GAIN, confidence], dim=1
        )
        if self.net_scale > 1:
            x = F.avg_pool2d(x, self.net_scale, ceil_mode=True)
        out = self.head(self.body(x))
        if self.net_scale > 1:
            out = F.interpolate(out, size=grey.shape[-2:], mode="bilinear", align_corners=False)
        blend = torch.sigmoid(out[:, :1] + rule)
        return self._blend(local_chroma, global_chroma, blend) + out[:, 1:] * _CORRECTION_SCALE

    def _blend(self, local_chroma: Tensor, global_chroma: Tensor, blend: Tensor) -> Tensor:
        """The two estimates blended by ``blend`` (with the blended chroma strength, when kept)."""
        mixed = local_chroma + blend * (global_chroma - local_chroma)
        if self.keep_saturation:
            mixed = _with_blended_magnitude(mixed, local_chroma, global_chroma, blend)
        return mixed


def _with_blended_magnitude(mixed: Tensor, local: Tensor, global_: Tensor, blend: Tensor) -> Tensor:
    """``mixed`` rescaled to the blend of the two estimates' chroma magnitudes: averaging two colours of
    different hue would otherwise pale them, and the paler result is fed back to the next frame."""
    wanted = vector_length(local) + blend * (vector_length(global_) - vector_length(local))
    scale = (wanted / vector_length(mixed).clamp_min(1e-4)).clamp(1.0, _MAX_SATURATION_GAIN)
    return mixed * scale
