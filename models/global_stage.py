"""Global stage: colour each frame from the keyframe by deep-feature matching."""

from __future__ import annotations

from typing import NamedTuple

import torch.nn.functional as F
from torch import Tensor, nn

from dvcp_plugin.models.features import FeatureExtractor, FeaturePair
from dvcp_plugin.models.matching import soft_match, two_stage_match


class KeyState(NamedTuple):
    """What the global stage keeps of a keyframe: its features and its chroma on its fine feature grid."""

    features: FeaturePair
    chroma: Tensor


def _upsample(x: Tensor, size: tuple[int, int]) -> Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class GlobalMatching(nn.Module):
    """Two-stage nearest-neighbour colour transfer from a keyframe, with a soft variant for training."""

    def __init__(self, extractor: FeatureExtractor, roi_size: int | None = None, chunk_size: int = 4096) -> None:
        super().__init__()
        self.extractor = extractor
        self.roi_size = roi_size
        self.chunk_size = chunk_size

    def prepare_key(self, key_grey: Tensor, key_chroma: Tensor) -> KeyState:
        """Compute the keyframe's features once; area-downsample its chroma (B,2,H,W) to the fine grid."""
        features = self.extractor(key_grey)
        chroma = F.adaptive_avg_pool2d(key_chroma, features.fine.shape[-2:])
        return KeyState(features=features, chroma=chroma)

    def forward(self, grey: Tensor, key: KeyState) -> tuple[Tensor, Tensor]:
        """Return (chroma (B,2,H,W), confidence (B,1,H,W)) for grey (B,1,H,W) by hard two-stage matching."""
        match = two_stage_match(
            self.extractor(grey),
            key.features,
            key.chroma,
            self.roi_size,
            self.chunk_size,
            stride_ratio=self.extractor.coarse_stride // self.extractor.fine_stride,
        )
        size = (grey.shape[-2], grey.shape[-1])
        return _upsample(match.chroma, size), _upsample(match.confidence, size)

    def soft_forward(self, grey: Tensor, key: KeyState, temperature: float = 0.05) -> Tensor:
        """Return differentiable chroma (B,2,H,W) by soft attention over the keyframe's fine features."""
        fine = self.extractor(grey).fine
        chroma = soft_match(fine, key.features.fine, key.chroma, temperature, self.chunk_size)
        return _upsample(chroma, (grey.shape[-2], grey.shape[-1]))
