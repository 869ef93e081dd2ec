"""Global stage that re-anchors to the keyframe: its colours brought straight to the frame.

Two correspondences, neither chained through the frames in between (so nothing drifts):

* **Long-range motion.** The motion G(k)→G(key) is estimated directly, checked against the reverse
  motion G(key)→G(k), and the keyframe's chroma is warped along it. Its reliability (consistent
  both ways, matching luma) is high where the keyframe's content is found again.
* **Deep-feature matching**, for what the motion cannot follow (large displacements, deformation,
  content that moved away and came back): the paper's two-stage matching on the project's trained
  encoder — the nearest coarse cell over the whole keyframe picks a region of interest, and the
  fine stage takes a softmax average of the chroma in it (:func:`soft_two_stage_match`), exactly as
  the encoder was trained.

The estimate is ``r·motion + (1 − r)·match`` with r the motion's reliability, and its confidence
``r + (1 − r)·m·c`` with c the match's best cosine similarity and m the option
``match_confidence`` (default ½): near 1 where the motion holds, at most m where only the match
speaks. The refine stage weighs it against the local estimate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dvcp_plugin.models.features import FeatureExtractor, FeaturePair
from dvcp_plugin.models.global_stage import KeyState, feature_key_state, upsample
from dvcp_plugin.models.matching import coarse_soft_match, soft_two_stage_match
from dvcp_plugin.models.motion import (
    INCONSISTENCY_SCALE,
    RESIDUAL_SCALE,
    MotionEstimator,
    aligned,
    reliability,
    resize_flow,
    warp,
)
from dvcp_plugin.models.motion_local import CONSISTENCY, check, require_choice
from dvcp_plugin.models.resolution import Grey

LONG_RANGE = ("motion", "work", "auto")
# long_range "auto": at the working resolution unless the motion resolution has at most this many pixels
AUTO_PIXELS = 110_000


def long_range_level(how: str, grey: Grey) -> int:
    """Which level of ``grey`` (0 work, 1 motion) the long-range motion is estimated on."""
    if how == "auto":
        return int(grey.motion.shape[-2] * grey.motion.shape[-1] <= AUTO_PIXELS)
    return int(how == "motion")


class KeyAnchoring(nn.Module):
    """Keyframe chroma by long-range motion where it holds, by deep-feature matching elsewhere."""

    def __init__(
        self,
        motion: MotionEstimator,
        extractor: FeatureExtractor,
        roi_size: int = 12,
        check_motion: MotionEstimator | None = None,
        temperature: float = 0.02,
        coarse_temperature: float = 0.05,
        match_confidence: float = 0.5,
        long_range: str = "motion",
        consistency: str = "forward",
        photometric: bool = False,
        match_below: float | None = None,
        inconsistency_scale: float = INCONSISTENCY_SCALE,
        residual_scale: float = RESIDUAL_SCALE,
    ) -> None:
        super().__init__()
        self.motion, self.extractor = motion, extractor
        self.check_motion = check_motion or motion
        self.roi_size, self.temperature, self.coarse_temperature = roi_size, temperature, coarse_temperature
        self.match_confidence = match_confidence
        require_choice("long_range", long_range, LONG_RANGE)
        require_choice("consistency", consistency, CONSISTENCY)
        self.long_range, self.consistency, self.photometric = long_range, consistency, photometric
        self.match_below = match_below
        self.scales = (inconsistency_scale, residual_scale)

    def prepare_key(self, key_grey: Grey, key_chroma: Tensor) -> KeyState:
        """The keyframe's greys, chroma, features and chroma on the fine feature grid."""
        return feature_key_state(self.extractor, key_grey, key_chroma)

    def match(self, grey: Grey, key: KeyState) -> tuple[Tensor, Tensor]:
        """The feature-matching estimate alone (chroma, best cosine), differentiable in the encoder."""
        return self._match(self.extractor(grey.work), grey, key)

    def _match(
        self, features: FeaturePair, grey: Grey, key: KeyState, cells: Tensor | None = None, fill: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        assert key.features is not None and key.fine_chroma is not None
        ratio = self.extractor.coarse_stride // self.extractor.fine_stride
        chroma, similarity = soft_two_stage_match(
            features, key.features, key.fine_chroma, self.roi_size, self.temperature, stride_ratio=ratio,
            cells=cells, fill=fill,
        )
        size = (grey.work.shape[-2], grey.work.shape[-1])
        return upsample(chroma, size), upsample(similarity, size)

    def matching_estimates(self, grey: Grey, key: KeyState) -> tuple[Tensor, Tensor]:
        """What the encoder is trained on: the fine-stage chroma of :meth:`match` and a soft match
        over the whole coarse key (which trains the coarse features), both at the working resolution."""
        assert key.features is not None
        features = self.extractor(grey.work)
        size = (grey.work.shape[-2], grey.work.shape[-1])
        coarse = coarse_soft_match(features.coarse, key.features.coarse, key.chroma, self.coarse_temperature)
        return self._match(features, grey, key)[0], upsample(coarse, size)

    @torch.no_grad()
    def follow(self, grey: Grey, key: KeyState) -> tuple[Tensor, Tensor]:
        """The long-range-motion estimate alone: (keyframe chroma warped to ``grey``, reliability)."""
        work = grey.work
        size = (work.shape[-2], work.shape[-1])
        key_grey, key_chroma = key.grey, key.chroma
        if key_chroma.shape[0] != work.shape[0]:  # one keyframe for a batch of frames
            key_grey = Grey(*(t.expand(work.shape[0], -1, -1, -1) for t in key_grey))
            key_chroma = key_chroma.expand(work.shape[0], -1, -1, -1)
        level = long_range_level(self.long_range, grey)
        to_key = resize_flow(self.motion(grey[level], key_grey[level]), size)
        disagreement = check(self.check_motion, self.consistency, to_key, work, key_grey.work)
        warped = warp(torch.cat([key_grey.work, key_chroma.to(key_grey.work.dtype)], dim=1), to_key)  # one grid
        warped_grey, moved = warped[:, :1], warped[:, 1:]
        if self.photometric:
            warped_grey = aligned(warped_grey, work)
        trust = reliability(work, warped_grey, disagreement, *self.scales)
        return moved, trust

    def forward(self, grey: Grey, key: KeyState) -> tuple[Tensor, Tensor]:
        """(chroma (B,2,h,w), confidence (B,1,h,w)) of ``grey`` from the keyframe (see the module doc)."""
        moved, trust = self.follow(grey, key)
        if self.match_below is None:
            matched, similarity = self.match(grey, key)
        else:  # only the coarse cells where the motion's reliability falls below match_below
            stride = self.extractor.coarse_stride
            need = F.max_pool2d((trust < self.match_below).float(), stride, ceil_mode=True).amax(dim=0).flatten()
            cells = need.nonzero().flatten()
            self.matched_cells = (len(cells), len(need))
            if not len(cells):
                return moved, trust
            fill = F.avg_pool2d(moved, self.extractor.fine_stride, ceil_mode=True)
            matched, similarity = self._match(self.extractor(grey.work), grey, key, cells, fill)
        chroma = trust * moved + (1.0 - trust) * matched
        return chroma, trust + (1.0 - trust) * similarity * self.match_confidence
