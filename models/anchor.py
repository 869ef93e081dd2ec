"""Global stage that re-anchors to the keyframe: its colours brought straight to the frame by long-range motion.

For frame k the motion G(k)→G(key) is estimated directly (no chain through the frames between,
so nothing drifts), checked against the reverse motion G(key)→G(k), and the keyframe's chroma is
warped along it. The confidence is the motion's reliability (consistent both ways and matching
luma): high where the keyframe's content is visible and found again, low where it is occluded,
new, or moved beyond what the motion estimator can follow. The refine stage weighs it against the
local estimate.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dvcp_plugin.models.global_stage import KeyState
from dvcp_plugin.models.motion import MotionEstimator, inconsistency, reliability, resize_flow, warp
from dvcp_plugin.models.resolution import Grey


class KeyAnchoring(nn.Module):
    """Keyframe chroma warped by long-range motion to each frame, with the motion's reliability."""

    def __init__(self, motion: MotionEstimator) -> None:
        super().__init__()
        self.motion = motion

    def prepare_key(self, key_grey: Grey, key_chroma: Tensor) -> KeyState:
        """The keyframe's greys and working-resolution chroma (nothing to compute ahead)."""
        return KeyState(key_grey, key_chroma)

    @torch.no_grad()
    def forward(self, grey: Grey, key: KeyState) -> tuple[Tensor, Tensor]:
        """(chroma (B,2,h,w), confidence (B,1,h,w)) of ``grey`` from the keyframe."""
        work = grey.work
        size = (work.shape[-2], work.shape[-1])
        key_grey, key_chroma = key.grey, key.chroma
        if key_chroma.shape[0] != work.shape[0]:  # one keyframe for a batch of frames
            key_grey = Grey(*(t.expand(work.shape[0], -1, -1, -1) for t in key_grey))
            key_chroma = key_chroma.expand(work.shape[0], -1, -1, -1)
        to_key = resize_flow(self.motion(grey.motion, key_grey.motion), size)
        from_key = self.motion(key_grey.work, work)
        trust = reliability(work, warp(key_grey.work, to_key), inconsistency(to_key, from_key))
        return warp(key_chroma, to_key), trust
