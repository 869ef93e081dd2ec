"""Motion-compensated local stage: warp the previous colours by dense motion, then correct them per pixel.

The previous frame's chroma is first warped by the backward motion G(k)→G(k-1); the paper's
per-pixel separable kernels (short ones: they correct what the motion got wrong, sub-pixel error,
edges, occlusion boundaries, instead of having to reach the motion itself) are then applied to the
warped chroma. The kernels are predicted from G(k), the warped G(k-1), their residual and the
forward–backward inconsistency of the motion. With centred delta kernels the stage is exactly
optical-flow propagation, which is where an untrained stage starts.

Motion is estimated at the motion resolution (:class:`~dvcp_plugin.models.resolution.Grey`) and
resampled to the working resolution; the reverse motion, used only to check consistency, is
estimated at the working resolution. The stage also returns a per-pixel reliability (consistent
motion and matching luma), which the refine stage receives.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dvcp_plugin.models.local import LocalPlan, kernel_head
from dvcp_plugin.models.motion import (
    WARP_MODES,
    MotionEstimator,
    aligned,
    inconsistency,
    reliability,
    resize_flow,
    warp,
)
from dvcp_plugin.models.resolution import Grey
from dvcp_plugin.models.sepconv import per_pixel_separable_conv
from dvcp_plugin.models.unet import HalfResolutionUNet

_CENTRE_WEIGHT = 0.995  # untrained kernels: nearly a delta, so the stage starts as flow propagation
_HEAD_WEIGHT_SCALE = 0.05
_RESIDUAL_GAIN = 4.0  # luma residuals are small; scale them to the range of the other inputs


def motion_inputs(grey: Tensor, warped_grey: Tensor, disagreement: Tensor) -> Tensor:
    """The kernel network's input (B,4,h,w) in ``grey``'s dtype: grey, warped grey, |residual|,
    log(1 + inconsistency)."""
    residual = (grey - warped_grey).abs() * _RESIDUAL_GAIN
    return torch.cat([grey - 0.5, warped_grey - 0.5, residual, torch.log1p(disagreement).to(grey.dtype)], dim=1)


CONSISTENCY = ("forward", "coarse", "none")  # how a flow is checked against the reverse motion
RESOLUTIONS = ("motion", "work")  # the levels of a Grey a stage can estimate motion on


def require_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    """A ValueError naming ``option`` and its ``choices`` unless ``value`` is one of them."""
    if value not in choices:
        raise ValueError(f"{option} must be one of {', '.join(choices)}, got {value!r}")


def check(motion: MotionEstimator, how: str, flow: Tensor, frame: Tensor, other: Tensor) -> Tensor:
    """The inconsistency (B,1,h,w) of ``flow`` (``frame`` -> ``other``: frame(p) ≈ other(p + flow(p)))
    with the reverse motion, estimated at the same size ("forward"), at half that size ("coarse"),
    or not at all ("none": 0)."""
    if how == "none":
        return torch.zeros_like(flow[:, :1])
    if how == "forward":
        return inconsistency(flow, motion(other, frame))
    size = (flow.shape[-2], flow.shape[-1])
    half = (max(8, size[0] // 2), max(8, size[1] // 2))
    small_frame, small_other = (F.interpolate(x, size=half, mode="area") for x in (frame, other))
    coarse = inconsistency(resize_flow(flow, half), motion(small_other, small_frame))
    return F.interpolate(coarse, size=size, mode="bilinear", align_corners=False) * (size[1] / half[1])


class MotionCompensatedPropagation(nn.Module):
    """Carry the previous chroma along dense motion, then refine it with per-pixel separable kernels."""

    def __init__(
        self,
        motion: MotionEstimator,
        check_motion: MotionEstimator | None = None,
        kernel_size: int = 7,
        stem: int = 16,
        widths: tuple[int, ...] = (24, 32, 48),
        interpolation: str = "bilinear",
        consistency: str = "forward",
        photometric: bool = False,
        resolution: str = "motion",
        kernels: bool = True,
        net_scale: int = 1,
    ) -> None:
        super().__init__()
        require_choice("interpolation", interpolation, WARP_MODES)
        require_choice("consistency", consistency, CONSISTENCY)
        require_choice("resolution", resolution, RESOLUTIONS)
        self.motion = motion
        self.check_motion = check_motion or motion
        self.resolution = resolution
        self.kernel_size = kernel_size
        self.interpolation = interpolation  # of the previous chroma along the motion
        self.consistency = consistency
        self.photometric = photometric
        self.kernels, self.net_scale = kernels, net_scale
        self.body = HalfResolutionUNet(4, stem, tuple(widths))
        self.vertical_head = kernel_head(stem, kernel_size, _CENTRE_WEIGHT, _HEAD_WEIGHT_SCALE)
        self.horizontal_head = kernel_head(stem, kernel_size, _CENTRE_WEIGHT, _HEAD_WEIGHT_SCALE)

    def plan(self, prev: Grey, cur: Grey) -> LocalPlan:
        """Motion, kernels and reliability of the current frame from the two greys."""
        size = (cur.work.shape[-2], cur.work.shape[-1])
        with torch.no_grad():
            level = 1 if self.resolution == "motion" else 0
            backward = resize_flow(self.motion(cur[level], prev[level]), size)
            disagreement = check(self.check_motion, self.consistency, backward, cur.work, prev.work)
        warped_grey = warp(prev.work, backward)
        if self.photometric:
            warped_grey = aligned(warped_grey, cur.work)
        trust = reliability(cur.work, warped_grey, disagreement)
        if not self.kernels:
            return LocalPlan(None, None, trust, backward)
        inputs = motion_inputs(cur.work, warped_grey, disagreement)
        if self.net_scale > 1:
            inputs = F.avg_pool2d(inputs, self.net_scale, ceil_mode=True)
        features = self.body(inputs)
        logits = torch.cat([self.vertical_head(features), self.horizontal_head(features)], dim=1)
        if self.net_scale > 1:
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        vertical, horizontal = (torch.softmax(half, dim=1) for half in logits.split(self.kernel_size, dim=1))
        return LocalPlan(vertical, horizontal, trust, backward)

    def apply(self, plan: LocalPlan, chroma_prev: Tensor) -> Tensor:  # type: ignore[override]  # the local stage's
        """The current chroma (B,2,h,w): the previous chroma warped, then convolved per pixel."""
        assert plan.flow is not None
        warped = warp(chroma_prev, plan.flow, self.interpolation)
        if plan.vertical is None or plan.horizontal is None:
            return warped
        return per_pixel_separable_conv(warped, plan.vertical, plan.horizontal)

    def forward(self, prev: Grey, cur: Grey, chroma_prev: Tensor) -> tuple[Tensor, Tensor]:
        """(chroma, reliability) of the current frame: :meth:`plan` then :meth:`apply`."""
        plan = self.plan(prev, cur)
        return self.apply(plan, chroma_prev), plan.reliability
