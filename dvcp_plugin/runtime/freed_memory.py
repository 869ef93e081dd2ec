"""Freed memory handed back to the system as a shot streams.

A frame's tensors are allocated afresh every frame, in sizes that change from frame to frame
(the cells feature matching runs on, for one). glibc's malloc keeps what is freed in its arenas
for reuse, fragmented, so a process streaming a long shot grows by megabytes every hundred frames
although nothing stays referenced (docs/PERFORMANCE.md: a 2400-frame shot grew by 189 MiB).
``malloc_trim(0)`` returns those free pages; called every :data:`TRIM_EVERY` steps it keeps the
process flat, at a cost of a few milliseconds each time. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
from collections.abc import Callable

TRIM_EVERY = 100  # steps between two trims


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # no C library by that name, or not glibc
        return None


class FreedMemory:
    """Counts steps, from any thread, and trims malloc's free memory every ``every`` of them."""

    def __init__(self, every: int = TRIM_EVERY) -> None:
        self._every, self._steps, self._trim = every, itertools.count(1), _malloc_trim()

    def step_done(self) -> bool:
        """Count one step; trim when it is the ``every``-th. True when a trim ran."""
        if next(self._steps) % self._every or self._trim is None:
            return False
        self._trim(0)
        return True
