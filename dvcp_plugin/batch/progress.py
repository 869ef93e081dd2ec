"""Progress of a batch on stderr: one bar over the shots, with the frames written and their rate."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from tqdm import tqdm


class FrameCounter:
    """Frames written by the workers since the driver last took the count (runs as a Ray actor)."""

    def __init__(self) -> None:
        self._frames = 0

    def add(self, frames: int) -> None:
        """Count ``frames`` more written frames."""
        self._frames += frames

    def take(self) -> int:
        """The frames written since the last call."""
        frames, self._frames = self._frames, 0
        return frames


class BatchProgress:
    """One bar on stderr: shots finished out of all, frames written so far, frames per second, failures.

    Use it as a context manager; frames per second count from when it is entered.
    """

    def __init__(self, settled: Sequence[str | None]) -> None:
        """``settled``: each shot's status when it was settled before any work, else None."""
        self._settled = [status for status in settled if status is not None]
        self._bar = tqdm(total=len(settled), desc="dvcp batch", unit="shot", file=sys.stderr, dynamic_ncols=True)
        self._frames = self._failed = 0
        self._started = time.monotonic()

    def __enter__(self) -> BatchProgress:
        self._started = time.monotonic()
        for status in self._settled:
            self.shot(status)
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.close()

    def frames(self, count: int) -> None:
        """``count`` more frames were written."""
        if count:
            self._frames += count
            self._show()

    def shot(self, status: str) -> None:
        """A shot finished with ``status``."""
        self._failed += status == "failed"
        self._bar.update(1)
        self._show()

    def _show(self) -> None:
        rate = self._frames / max(time.monotonic() - self._started, 1e-9)
        text = f"{self._frames} frames, {rate:.2f} frames/s"
        self._bar.set_postfix_str(text + (f", {self._failed} failed" if self._failed else ""))
