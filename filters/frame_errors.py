"""The errors a node's frame callbacks raised, kept for the code that made the node.

VapourSynth hands an exception raised in a frame callback to whoever requested the frame as a
``vs.Error`` that holds only the exception's formatted text. Code that made the node itself (the
command line's colouring service) takes the exception from here instead: its type tells a mistake
the user can fix (a ``DvcpError``) from a bug, and its traceback is kept. Only the first error is
held, so a node that keeps failing holds no more than one.
"""

from __future__ import annotations

import threading


class FrameErrors:
    """The first exception raised in the frame callbacks this is given to, with its frame number."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._first: tuple[int, BaseException] | None = None

    def record(self, n: int, exc: BaseException) -> None:
        """Keep ``exc``, raised making frame ``n``, unless an earlier one is kept."""
        with self._lock:
            if self._first is None:
                self._first = (n, exc)

    def take(self) -> tuple[int, BaseException] | None:
        """The first error kept (frame number, exception), and forget it; None when there is none."""
        with self._lock:
            first, self._first = self._first, None
            return first
