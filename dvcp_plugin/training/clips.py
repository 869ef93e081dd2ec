"""Training clips: sequences preloaded at their own resolution, sampled as augmented clips at the working
resolution together with their greys at the motion resolution.

A batch is cut from the sources at one scale ``s`` drawn in [``chroma_scale``, 1]: a ``crop`` ×
``crop`` window at the working resolution is a ``crop/s`` window of the source, downscaled with the
engine's filter. The motion greys are that window at the source's own resolution, as the engine
gives motion estimators more detail than the working resolution (up to the input's own). Small
``s`` is like a standard-definition input (motion at twice the working resolution), ``s`` near 1
like a large input (motion at about the working resolution).

Augmentations, drawn per clip: temporal stride 1..``max_stride`` (larger motion), time reversal,
horizontal flip, the window's position, a chroma rotation by a uniform hue angle and a chroma gain
(the networks must move colours, not recall the dataset's colours), a luma gain and gamma
applied to the 8-bit grey before it is downscaled, and, for a share ``degrade`` of the clips, the
scan-like degradations of :mod:`~dvcp_plugin.training.degradations` at random strengths (the true
chroma moved with the gate weave). Every random number comes from one
``torch.Generator`` whose state is saved in training checkpoints.
"""

from __future__ import annotations

import logging
import math
from typing import NamedTuple

import torch
from torch import Tensor

from ..models.resolution import Grey, downscale
from .data import DataError, Sequence, frame_planes, load_frame
from .degradations import degrade, random_degradations

log = logging.getLogger(__name__)


class Batch(NamedTuple):
    """Clips (B,T,3,crop,crop) at the working resolution (luma, Cb, Cr) and greys (B,T,1,m,m) for motion."""

    clips: Tensor
    motion: Tensor

    def grey(self, t: int) -> Grey:
        """Frame ``t`` of every clip as the stages see it."""
        return Grey(self.clips[:, t, :1], self.motion[:, t])

    def chroma(self, t: int) -> Tensor:
        """The true chroma (B,2,crop,crop) of frame ``t``."""
        return self.clips[:, t, 1:]

    def to(self, device: torch.device) -> Batch:
        """The batch on ``device``."""
        return Batch(self.clips.to(device), self.motion.to(device))


def _to_u8(grey: Tensor, chroma: Tensor) -> Tensor:
    """Full-resolution grey (H,W) and chroma (2,H,W) -> uint8 (3,H,W): luma·255, (chroma + ½)·255."""
    planes = torch.cat([grey[None], chroma + 0.5])
    return (planes * 255.0).round().clamp(0, 255).to(torch.uint8)


class ClipDataset:
    """Sequences kept in memory as uint8 at their own resolution; see the module doc for sampling."""

    def __init__(
        self, sequences: list[Sequence], chroma_scale: float, crop: int, min_frames: int = 3, degrade: float = 0.0
    ) -> None:
        if not sequences:
            raise DataError("no training sequences")
        self.chroma_scale, self.crop, self.degrade = chroma_scale, crop, degrade
        self.names: list[str] = []
        self.frames: list[Tensor] = []
        for seq in sequences:
            if len(seq.frames) < min_frames:
                log.warning("%s has %d frames (< %d), skipped", seq.name, len(seq.frames), min_frames)
                continue
            planes = [_to_u8(*frame_planes(load_frame(path))) for path in seq.frames]
            shapes = {tuple(p.shape) for p in planes}
            if len(shapes) != 1:
                raise DataError(f"sequence {seq.name} mixes frame sizes {sorted(shapes)}")
            stack = torch.stack(planes)
            if min(stack.shape[-2:]) < crop:
                raise DataError(
                    f"sequence {seq.name} is {stack.shape[-1]}x{stack.shape[-2]}, smaller than the "
                    f"{crop}-pixel training crop"
                )
            self.names.append(seq.name)
            self.frames.append(stack)
        if not self.frames:
            raise DataError(f"no sequence has at least {min_frames} frames")

    @property
    def total_frames(self) -> int:
        """Number of preloaded frames."""
        return sum(len(f) for f in self.frames)

    def sample(self, batch: int, length: int, max_stride: int, generator: torch.Generator) -> Batch:
        """A batch of ``batch`` clips of ``length`` frames."""
        usable = [i for i, frames in enumerate(self.frames) if len(frames) >= length]
        if not usable:
            raise DataError(f"no sequence has the {length} frames a clip needs")
        chosen = [usable[self._randint(0, len(usable) - 1, generator)] for _ in range(batch)]
        smallest = min(min(self.frames[i].shape[-2:]) for i in chosen)
        low = max(self.chroma_scale, self.crop / smallest)
        scale = self._uniform(low, max(low, 1.0), generator)
        window = min(smallest, math.ceil(self.crop / scale))
        clips = [self._clip(self.frames[i], length, max_stride, window, generator) for i in chosen]
        return Batch(torch.stack([c for c, _ in clips]), torch.stack([m for _, m in clips]))

    def _randint(self, low: int, high: int, generator: torch.Generator) -> int:
        """Uniform integer in [low, high]."""
        return int(torch.randint(low, high + 1, (1,), generator=generator))

    def _uniform(self, low: float, high: float, generator: torch.Generator) -> float:
        return low + (high - low) * float(torch.rand((), generator=generator))

    def _clip(
        self, frames: Tensor, length: int, max_stride: int, window: int, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        count = len(frames)
        stride = min(self._randint(1, max_stride, generator), max(1, (count - 1) // (length - 1)))
        span = (length - 1) * stride
        start = self._randint(0, count - 1 - span, generator)
        index = torch.arange(start, start + span + 1, stride)
        if self._randint(0, 1, generator):
            index = index.flip(0)
        height, width = frames.shape[-2:]
        top = self._randint(0, height - window, generator)
        left = self._randint(0, width - window, generator)
        source = frames[index, :, top : top + window, left : left + window].float() / 255.0
        if self._randint(0, 1, generator):
            source = source.flip(-1)
        gamma = math.exp(self._uniform(-0.3, 0.3, generator))
        luma_gain = self._uniform(0.8, 1.2, generator)
        grey = ((source[:, :1] ** gamma * luma_gain).clamp(0.0, 1.0) * 255.0).round() / 255.0
        angle = self._uniform(-math.pi, math.pi, generator)
        gain = self._uniform(0.6, 1.3, generator)
        cos, sin = math.cos(angle) * gain, math.sin(angle) * gain
        cb, cr = source[:, 1] - 0.5, source[:, 2] - 0.5
        chroma = torch.stack([cos * cb - sin * cr, sin * cb + cos * cr], dim=1)
        if self.degrade > 0 and self._uniform(0.0, 1.0, generator) < self.degrade:
            seed = self._randint(0, 2**31 - 1, generator)
            scan = degrade(list(grey), random_degradations(generator), seed, list(chroma), frame_height=height)
            grey, chroma = torch.stack(scan.greys), torch.stack(scan.chroma or [])
        size = (self.crop, self.crop)
        work = torch.cat([downscale(grey, size), downscale(chroma, size).clamp(-0.5, 0.5)], dim=1)
        return work, grey
