"""One step of the method (local, global, refine), shared by the inference engine and the trainer."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor, nn

from dvcp_plugin.models.global_stage import KeyState


class StepOutput(NamedTuple):
    """Chroma estimates of one frame at the working resolution; ``final`` feeds the next step."""

    local: Tensor
    global_: Tensor
    confidence: Tensor
    final: Tensor


def propagate_step(
    local_stage: nn.Module,
    global_stage: nn.Module,
    refine_stage: nn.Module,
    key: KeyState,
    grey_prev: Tensor,
    grey_cur: Tensor,
    chroma_prev: Tensor,
) -> StepOutput:
    """Colour ``grey_cur`` from the previous frame (local), the keyframe (global) and their fusion."""
    local = local_stage(grey_prev, grey_cur, chroma_prev)
    global_chroma, confidence = global_stage(grey_cur, key)
    final = refine_step(refine_stage, grey_cur, local, global_chroma, confidence)
    return StepOutput(local=local, global_=global_chroma, confidence=confidence, final=final)


def refine_step(
    refine_stage: nn.Module, grey: Tensor, local: Tensor, global_chroma: Tensor, confidence: Tensor
) -> Tensor:
    """The final chroma of one frame from its two estimates, clamped to the valid chroma range."""
    return refine_stage(grey, local, global_chroma, confidence).clamp(-0.5, 0.5)
