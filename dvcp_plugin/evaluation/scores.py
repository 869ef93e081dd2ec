"""Per-frame scores of the evaluation, by sequence and method, and their means over frames 1..K-1."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .metrics import colour_retention


@dataclass
class MethodScores:
    """Per-frame scores of one method on one sequence, frames 1..n-1 (index 0 is frame 1)."""

    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    chroma: list[float] = field(default_factory=list)  # mean |CbCr| of the output frame


@dataclass
class SequenceScores:
    """Scores of every method on one sequence, and the truth's mean |CbCr| per frame (frames 1..n-1)."""

    name: str
    methods: dict[str, MethodScores]
    truth_chroma: list[float] = field(default_factory=list)

    def frames_scored(self, frames: int) -> int:
        """How many frames of 1..frames-1 the sequence has."""
        return min(frames - 1, len(self.truth_chroma))

    def summary(self, frames: int) -> dict[str, Any]:
        """Per method: mean PSNR and SSIM over frames 1..frames-1 (or as many as the sequence has) and the
        colour retention over the last of them (:func:`.metrics.colour_retention`)."""
        count = self.frames_scored(frames)
        truth = self.truth_chroma[:count]
        return {
            name: {
                "psnr": float(np.mean(scores.psnr[:count])),
                "ssim": float(np.mean(scores.ssim[:count])),
                "retention": colour_retention(scores.chroma[:count], truth),
            }
            for name, scores in self.methods.items()
        }
