"""The four training phases: which stages each trains, on which clips, with which loss.

The schedule (reasons in ``docs/TRAINING.md``) runs them in order, each with its own Adam
optimiser, a linear warm-up and a cosine learning-rate decay:

``local``
    The local stage alone: a recurrent rollout over T frames that starts from the true chroma of
    the first frame and feeds its own output back; L1 to the true chroma of every later frame.
``global``
    The matching encoder alone, through the differentiable stand-in of hard matching
    (:meth:`GlobalMatching.soft_forward`): key = the first frame of the clip, targets at distances
    of several frames; L1.
``refine``
    Local and global frozen, the refine stage trained on rollouts of :func:`propagate_step` (hard
    matching exactly as at inference, final output fed back); the paper's losses, L1 on the final
    and on the local estimate.
``joint``
    Local and refine together on the same rollouts and losses.

Clips are (B, T, 3, h, w): luma, then zero-centred Cb and Cr.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models.losses import dvcp_losses
from ..models.propagation import propagate_step
from .config import TrainConfig

# the stage kinds each phase optimises
PHASE_TRAINS: dict[str, tuple[str, ...]] = {
    "local": ("local",),
    "global": ("global",),
    "refine": ("refine",),
    "joint": ("local", "refine"),
}
WARMUP_STEPS = 100  # at most; a tenth of a short phase

Losses = tuple[Tensor, dict[str, float]]


def local_rollout(local: nn.Module, clip: Tensor) -> Losses:
    """The ``local`` phase: the local stage rolled out from the first frame's true chroma, its own output fed back."""
    grey, chroma = clip[:, :, :1], clip[:, :, 1:]
    prev = chroma[:, 0]
    total = clip.new_zeros(())
    for t in range(1, clip.shape[1]):
        prev = local(grey[:, t - 1], grey[:, t], prev)
        total = total + F.l1_loss(prev, chroma[:, t])
    total = total / (clip.shape[1] - 1)
    return total, {"local": total.item(), "total": total.item()}


def soft_global(global_stage: nn.Module, clip: Tensor, temperature: float) -> Losses:
    """The ``global`` phase: soft matching from the first frame (key) to every other frame of the clip."""
    grey, chroma = clip[:, :, :1], clip[:, :, 1:]
    key = global_stage.prepare_key(grey[:, 0], chroma[:, 0])
    total = clip.new_zeros(())
    for t in range(1, clip.shape[1]):
        total = total + F.l1_loss(global_stage.soft_forward(grey[:, t], key, temperature), chroma[:, t])
    total = total / (clip.shape[1] - 1)
    return total, {"global": total.item(), "total": total.item()}


def full_rollout(modules: Mapping[str, nn.Module], clip: Tensor, local_weight: float) -> Losses:
    """The ``refine`` and ``joint`` phases: the method as at inference (hard matching, final fed back)."""
    grey, chroma = clip[:, :, :1], clip[:, :, 1:]
    with torch.no_grad():
        key = modules["global"].prepare_key(grey[:, 0], chroma[:, 0])
    prev = chroma[:, 0]
    total = clip.new_zeros(())
    sums = {"final": 0.0, "local": 0.0}
    steps = clip.shape[1] - 1
    for t in range(1, clip.shape[1]):
        out = propagate_step(
            modules["local"], modules["global"], modules["refine"], key, grey[:, t - 1], grey[:, t], prev
        )
        loss, parts = dvcp_losses(out.final, out.local, chroma[:, t], local_weight)
        total = total + loss
        sums["final"] += parts["final"] / steps
        sums["local"] += parts["local"] / steps
        prev = out.final
    total = total / steps
    return total, {**sums, "total": total.item()}


def phase_loss(phase: str, modules: Mapping[str, nn.Module], clip: Tensor, config: TrainConfig) -> Losses:
    """The loss of ``phase`` on a batch of clips, and its parts for the log."""
    if phase == "local":
        return local_rollout(modules["local"], clip)
    if phase == "global":
        return soft_global(modules["global"], clip, config.temperature)
    return full_rollout(modules, clip, config.local_weight)


def phase_clips(phase: str, config: TrainConfig) -> tuple[int, int]:
    """(frames per clip, largest frame step) of the clips ``phase`` trains on."""
    length = config.length if phase in ("local", "global") else config.rollout
    stride = config.key_stride if phase == "global" else config.max_stride
    return length, stride


def phase_lr_factor(index: int, length: int) -> float:
    """Learning-rate factor at step ``index`` of a phase: linear warm-up, then cosine decay to 0.1."""
    warmup = max(1, min(WARMUP_STEPS, length // 10))
    if index < warmup:
        return (index + 1) / warmup
    progress = (index - warmup) / max(1, length - warmup)
    return 0.1 + 0.45 * (1.0 + math.cos(math.pi * progress))
