"""The four training phases: which stages each trains, on which clips, with which loss.

The schedule (reasons in ``docs/TRAINING.md``) runs them in order, each with its own Adam
optimiser, a linear warm-up and a cosine learning-rate decay:

``local``
    The local stage alone: a recurrent rollout over T frames that starts from the true chroma of
    the first frame and feeds its own output back; L1 to the true chroma of every later frame.
``global``
    The global stage's matching encoder alone, through the stage's differentiable matching
    (``matching_estimates``: the fine stage as used at inference for ``anchor``, soft stand-ins of
    hard matching for ``compact``, plus a soft coarse match that trains the coarse features): key =
    the first frame of the clip, three targets up to 3·``key_stride`` frames away; L1.
``refine``
    Local and global frozen, the refine stage trained on long rollouts of :func:`propagate_step`
    (exactly as at inference, the final output fed back as the next frame's previous colours);
    the paper's losses, L1 on the final and on the local estimate. Gradients flow through the
    last ``backprop`` frames only (truncated backpropagation through time); the frames before
    them run without a graph, so a rollout can be long enough to show drift.
``joint``
    Local and refine together on the same rollouts and losses.

Clips come as a :class:`~dvcp_plugin.training.clips.Batch`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models.losses import dvcp_losses
from ..models.propagation import propagate_step
from .clips import Batch
from .config import TrainConfig

# the stage kinds each phase optimises
PHASE_TRAINS: dict[str, tuple[str, ...]] = {
    "local": ("local",),
    "global": ("global",),
    "refine": ("refine",),
    "joint": ("local", "refine"),
}
WARMUP_STEPS = 100  # at most; a tenth of a short phase
KEY_CLIP_FRAMES = 4  # global phase: the key and three frames up to 3·key_stride frames after it

Losses = tuple[Tensor, dict[str, float]]


def local_rollout(local: Any, batch: Batch) -> Losses:
    """The ``local`` phase: the local stage rolled out from the first frame's true chroma, its own output fed back."""
    prev = batch.chroma(0)
    length = batch.clips.shape[1]
    total = batch.clips.new_zeros(())
    for t in range(1, length):
        prev, _ = local(batch.grey(t - 1), batch.grey(t), prev)
        total = total + F.l1_loss(prev, batch.chroma(t))
    total = total / (length - 1)
    return total, {"local": total.item(), "total": total.item()}


def soft_global(global_stage: Any, batch: Batch) -> Losses:
    """The ``global`` phase: matching from the first frame (key) to every other frame of the clip,
    through the stage's differentiable matching (fine and coarse); L1 on both."""
    key = global_stage.prepare_key(batch.grey(0), batch.chroma(0))
    length = batch.clips.shape[1]
    total = batch.clips.new_zeros(())
    for t in range(1, length):
        fine, coarse = global_stage.matching_estimates(batch.grey(t), key)
        total = total + F.l1_loss(fine, batch.chroma(t)) + F.l1_loss(coarse, batch.chroma(t))
    total = total / (length - 1)
    return total, {"global": total.item(), "total": total.item()}


def full_rollout(modules: Mapping[str, Any], batch: Batch, local_weight: float, backprop: int) -> Losses:
    """The ``refine`` and ``joint`` phases: the method as at inference, the final output fed back.

    Losses (and gradients) come from the last ``backprop`` frames; the earlier ones set up the
    previous colours those frames start from, as drift has made them.
    """
    length = batch.clips.shape[1]
    first_graded = max(1, length - backprop)
    with torch.no_grad():
        key = modules["global"].prepare_key(batch.grey(0), batch.chroma(0))
    prev = batch.chroma(0)
    total = batch.clips.new_zeros(())
    sums = {"final": 0.0, "local": 0.0}
    graded = length - first_graded
    for t in range(1, length):
        with torch.set_grad_enabled(t >= first_graded and torch.is_grad_enabled()):
            out = propagate_step(
                modules["local"], modules["global"], modules["refine"], key, batch.grey(t - 1), batch.grey(t), prev
            )
        if t >= first_graded:
            loss, parts = dvcp_losses(out.final, out.local, batch.chroma(t), local_weight)
            total = total + loss
            sums["final"] += parts["final"] / graded
            sums["local"] += parts["local"] / graded
        prev = out.final
    total = total / graded
    return total, {**sums, "total": total.item()}


def phase_loss(phase: str, modules: Mapping[str, nn.Module], batch: Batch, config: TrainConfig) -> Losses:
    """The loss of ``phase`` on a batch of clips, and its parts for the log."""
    if phase == "local":
        return local_rollout(modules["local"], batch)
    if phase == "global":
        return soft_global(modules["global"], batch)
    return full_rollout(modules, batch, config.local_weight, config.backprop)


def phase_clips(phase: str, config: TrainConfig) -> tuple[int, int]:
    """(frames per clip, largest frame step) of the clips ``phase`` trains on."""
    if phase == "global":
        return KEY_CLIP_FRAMES, config.key_stride
    return (config.length if phase == "local" else config.rollout), config.max_stride


def phase_lr_factor(index: int, length: int) -> float:
    """Learning-rate factor at step ``index`` of a phase: linear warm-up, then cosine decay to 0.1."""
    warmup = max(1, min(WARMUP_STEPS, length // 10))
    if index < warmup:
        return (index + 1) / warmup
    progress = (index - warmup) / max(1, length - warmup)
    return 0.1 + 0.45 * (1.0 + math.cos(math.pi * progress))
