"""Per-frame scores of the evaluation, by sequence and method, and their means over the frames below K."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .metrics import colour_retention


@dataclass
class MethodScores:
    """Per-frame scores of one method on one sequence, one per scored frame (:attr:`SequenceScores.frames`)."""

    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    chroma: list[float] = field(default_factory=list)  # mean |CbCr| of the output frame
    chroma_psnr: list[float] = field(default_factory=list)  # PSNR of the chroma planes alone


@dataclass
class SequenceScores:
    """Scores of every method on one sequence: the frames scored (those that are not keyframes, in order),
    each method's scores of them, and the truth's mean |CbCr| of each."""

    name: str
    methods: dict[str, MethodScores]
    truth_chroma: list[float] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    keyframes: list[int] = field(default_factory=lambda: [0])
    coloured: int = 0  # how many frames were coloured, keyframes included

    def frames_scored(self, frames: int) -> int:
        """How many of the scored frames lie below ``frames`` (K)."""
        return bisect.bisect_left(self.frames, frames)

    def summary(self, frames: int) -> dict[str, Any]:
        """Per method: mean PSNR (RGB and chroma) and SSIM over the scored frames below ``frames`` (K) and the colour
        retention over the last of them (:func:`.metrics.colour_retention`)."""
        count = self.frames_scored(frames)
        truth = self.truth_chroma[:count]
        return {
            name: {
                "psnr": float(np.mean(scores.psnr[:count])),
                "chroma_psnr": float(np.mean(scores.chroma_psnr[:count])) if scores.chroma_psnr else None,
                "ssim": float(np.mean(scores.ssim[:count])),
                "retention": colour_retention(scores.chroma[:count], truth),
            }
            for name, scores in self.methods.items()
        }

    def by_frame(self, method: str) -> list[float | None]:
        """``method``'s PSNR at each frame coloured, by frame number from 0; None at keyframes."""
        values: list[float | None] = [None] * max(self.coloured, self.frames[-1] + 1 if self.frames else 0)
        for frame, value in zip(self.frames, self.methods[method].psnr, strict=True):
            values[frame] = value
        return values
