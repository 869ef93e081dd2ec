"""The classical method dvcp is measured against, timed on the same frames in the same process:
DIS optical-flow propagation at full resolution on the CPU (:class:`FlowPropagation`, the
evaluation protocol's reference method, docs/TRAINING.md).
"""

from __future__ import annotations

import torch

from ..models.baselines import FlowPropagation


class FlowRun:
    """DIS-flow propagation of a shot whose first grey is the keyframe's, one frame per :meth:`step`."""

    def __init__(self, greys: list[torch.Tensor], key_chroma: torch.Tensor) -> None:
        self.greys = greys
        self.propagation = FlowPropagation(greys[0], key_chroma)
        self.next = 1

    def step(self) -> None:
        """Propagate the chroma to the next frame of the shot."""
        self.propagation.step(self.greys[self.next])
        self.next += 1
