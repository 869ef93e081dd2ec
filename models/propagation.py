"""One step of the method (local, global, refine), shared by the inference engine and the trainer.

A step has two parts. :func:`prepare_step` computes everything that depends only on the grey
frames and the keyframe (the local stage's plan: motion, kernels, reliability; the global estimate)
and can run ahead of the chain, for many frames at once. :func:`chain_step` is the recursive part:
the local stage applied to the previous final chroma, then refine.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from torch import Tensor, nn

from dvcp_plugin.models.global_stage import KeyState
from dvcp_plugin.models.local import LocalPlan
from dvcp_plugin.models.resolution import Grey


class LocalStage(Protocol):
    """What a local stage module does (see ``dvcp_plugin.hookspecs``)."""

    def plan(self, prev: Grey, cur: Grey) -> LocalPlan:
        """Motion, kernels and reliability of ``cur`` from the two greys."""
        ...

    def apply(self, plan: LocalPlan, chroma_prev: Tensor) -> Tensor:
        """The local estimate: the previous chroma carried along ``plan``."""
        ...


class GlobalStage(Protocol):
    """What a global stage module does (see ``dvcp_plugin.hookspecs``)."""

    def prepare_key(self, key_grey: Grey, key_chroma: Tensor) -> KeyState:
        """The keyframe's state, computed once."""
        ...

    def __call__(self, grey: Grey, key: KeyState) -> tuple[Tensor, Tensor]:
        """The global estimate of ``grey`` and its confidence."""
        ...


class StepInputs(NamedTuple):
    """The non-recursive part of one frame: the local stage's plan and the global estimate."""

    plan: LocalPlan
    global_: Tensor
    confidence: Tensor


class StepOutput(NamedTuple):
    """Chroma estimates of one frame at the working resolution; ``final`` feeds the next step."""

    local: Tensor
    global_: Tensor
    confidence: Tensor
    final: Tensor
    reliability: Tensor


def prepare_step(
    local_stage: LocalStage, global_stage: GlobalStage, key: KeyState, prev: Grey, cur: Grey
) -> StepInputs:
    """The part of frame ``cur``'s step that does not need the previous colours."""
    global_chroma, confidence = global_stage(cur, key)
    return StepInputs(local_stage.plan(prev, cur), global_chroma, confidence)


def chain_step(
    local_stage: LocalStage, refine_stage: nn.Module, inputs: StepInputs, cur: Grey, chroma_prev: Tensor
) -> StepOutput:
    """The recursive part: the local estimate from the previous final chroma, then the fusion."""
    local = local_stage.apply(inputs.plan, chroma_prev)
    reliability = inputs.plan.reliability
    final = refine_step(refine_stage, cur.work, local, reliability, inputs.global_, inputs.confidence)
    return StepOutput(local, inputs.global_, inputs.confidence, final, reliability)


def propagate_step(
    local_stage: LocalStage,
    global_stage: GlobalStage,
    refine_stage: nn.Module,
    key: KeyState,
    prev: Grey,
    cur: Grey,
    chroma_prev: Tensor,
) -> StepOutput:
    """Colour ``cur`` from the previous frame (local), the keyframe (global) and their fusion."""
    inputs = prepare_step(local_stage, global_stage, key, prev, cur)
    return chain_step(local_stage, refine_stage, inputs, cur, chroma_prev)


def refine_step(
    refine_stage: nn.Module, grey: Tensor, local: Tensor, reliability: Tensor, global_chroma: Tensor, confidence: Tensor
) -> Tensor:
    """The final chroma of one frame from its two estimates, clamped to the valid chroma range."""
    return refine_stage(grey, local, reliability, global_chroma, confidence).clamp(-0.5, 0.5)
