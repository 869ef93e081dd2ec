"""Reading the clip's frames for the state cache: their luma, and what they tell of the shots."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import torch

from .shot_map import ShotMap

# read_frame(n) -> (full-resolution luma (H,W) in [0,1], True when frame n starts a new shot)
ReadFrame = Callable[[int], tuple[torch.Tensor, bool]]


class FrameReader:
    """Reads frames through ``read_frame``, records each one's scene change in ``shots``, and keeps the
    last ``keep`` lumas (a frame read to learn its scene change is often wanted again at once).

    Never called under a lock of the state cache: reading may call back into VapourSynth.
    """

    def __init__(self, read_frame: ReadFrame, shots: ShotMap, keep: int = 4) -> None:
        self._read, self._shots, self._keep = read_frame, shots, max(1, keep)
        self._recent: OrderedDict[int, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()

    def luma(self, n: int) -> torch.Tensor:
        """Frame ``n``'s full-resolution luma (H,W)."""
        with self._lock:
            luma = self._recent.get(n)
        if luma is not None:
            return luma
        luma, scene_change = self._read(n)
        self._shots.record(n, scene_change)
        with self._lock:
            self._recent[n] = luma
            while len(self._recent) > self._keep:
                self._recent.popitem(last=False)
        return luma
