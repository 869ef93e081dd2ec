"""Global stage: colour each frame from the keyframe by deep-feature matching (the paper's strategy).

Every global stage has ``prepare_key(grey, chroma) -> KeyState`` (computed once per keyframe) and
``stage(grey, key) -> (chroma, confidence)``, both at the working resolution; neither depends on
the previous frame, so they can run ahead of the recursive chain.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch.nn.functional as F
from torch import Tensor, nn

from dvcp_plugin.models.features import FeatureExtractor, FeaturePair
from dvcp_plugin.models.matching import coarse_soft_match, soft_match, two_stage_match
from dvcp_plugin.models.resolution import Grey


class KeyState(NamedTuple):
    """What a global stage keeps of a keyframe.

    ``grey`` and ``chroma`` (working resolution) always; ``features`` and ``fine_chroma`` (its
    chroma on the fine feature grid) for stages that match features.
    """

    grey: Grey
    chroma: Tensor
    features: FeaturePair | None = None
    fine_chroma: Tensor | None = None

    def nbytes(self) -> int:
        """Bytes held by the tensors of this state (a shared tensor counted once)."""
        held = (*self.grey, self.chroma, *(self.features or ()), self.fine_chroma)
        tensors = {id(t): t for t in held if t is not None}
        return sum(t.numel() * t.element_size() for t in tensors.values())


def feature_key_state(extractor: FeatureExtractor, key_grey: Grey, key_chroma: Tensor) -> KeyState:
    """A keyframe's state for feature matching: its features and its chroma area-averaged onto the fine grid."""
    features = extractor(key_grey.work)
    fine = F.adaptive_avg_pool2d(key_chroma, features.fine.shape[-2:])
    return KeyState(key_grey, key_chroma, features, fine)


def upsample(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize of a feature-grid estimate (B,C,h,w) to ``size``."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class GlobalMatching(nn.Module):
    """Two-stage nearest-neighbour colour transfer from a keyframe, with a soft variant for training."""

    def __init__(
        self,
        extractor: FeatureExtractor,
        roi_size: int | None = None,
        chunk_size: int = 4096,
        temperature: float = 0.05,
    ) -> None:
        super().__init__()
        self.extractor = extractor
        self.roi_size = roi_size
        self.chunk_size = chunk_size
        self.temperature = temperature

    def prepare_key(self, key_grey: Grey, key_chroma: Tensor) -> KeyState:
        """Compute the keyframe's features once; area-downsample its chroma (B,2,h,w) to the fine grid."""
        return feature_key_state(self.extractor, key_grey, key_chroma)

    def forward(self, grey: Grey, key: KeyState) -> tuple[Tensor, Tensor]:
        """(chroma (B,2,h,w), confidence (B,1,h,w)) of ``grey`` by hard two-stage matching."""
        assert key.features is not None and key.fine_chroma is not None
        work = grey.work
        match = two_stage_match(
            self.extractor(work),
            key.features,
            key.fine_chroma,
            self.roi_size,
            self.chunk_size,
            stride_ratio=self.extractor.coarse_stride // self.extractor.fine_stride,
        )
        size = (work.shape[-2], work.shape[-1])
        # matching runs in float32 whatever the precision; the estimates come back in the frame's
        return upsample(match.chroma, size).to(work.dtype), upsample(match.confidence, size).to(work.dtype)

    def matching_estimates(self, grey: Grey, key: KeyState) -> tuple[Tensor, Tensor]:
        """What the encoder is trained on, the differentiable stand-ins of hard matching: soft attention
        over the keyframe's whole fine grid and over its whole coarse grid, both at the working resolution."""
        assert key.features is not None and key.fine_chroma is not None
        features = self.extractor(grey.work)
        size = (grey.work.shape[-2], grey.work.shape[-1])
        fine = soft_match(features.fine, key.features.fine, key.fine_chroma, self.temperature, self.chunk_size)
        coarse = coarse_soft_match(features.coarse, key.features.coarse, key.chroma, self.temperature)
        return upsample(fine, size), upsample(coarse, size)


class KeyChromaEstimate(nn.Module):
    """A global stage whose estimate is replaced by the keyframe's chroma, its confidence kept: the
    ablation that shows what the global estimate itself is worth."""

    stage: Any  # the global stage module it wraps

    def __init__(self, stage: nn.Module) -> None:
        super().__init__()
        self.stage = stage

    def prepare_key(self, key_grey: Grey, key_chroma: Tensor) -> KeyState:
        """The wrapped stage's keyframe state."""
        return self.stage.prepare_key(key_grey, key_chroma)

    def forward(self, grey: Grey, key: KeyState) -> tuple[Tensor, Tensor]:
        """(the keyframe's chroma, the wrapped stage's confidence)."""
        _, confidence = self.stage(grey, key)
        return key.chroma.expand(grey.work.shape[0], -1, -1, -1).to(confidence.dtype), confidence
