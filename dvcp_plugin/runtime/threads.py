"""Torch's CPU threads for dvcp's work, without changing them for the rest of the process.

``torch.set_num_threads`` is process-wide in effect: torch re-applies the last count set, from any
thread, at the start of every parallel region. So one thread restoring its count while another
is mid-computation would change the other's team size, and convolutions may round a few samples
differently with another team size: a frame would then depend on which requests ran beside it.
:func:`torch_threads` therefore lets blocks run at the same time only when they ask for the same
count; the count is set when the first block of a group starts and restored when the last ends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

_state = threading.Condition()
_active = 0  # blocks running now, all with the count _current
_current: int | None = None
_before = 0  # the count to restore when the last block ends


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` torch CPU threads; ``None`` changes nothing.

    Blocks asking for another count wait until the running ones end, so a count never changes
    under running dvcp work. When the last block ends, the count the process had is restored.
    """
    global _active, _current, _before
    if count is None:
        yield
        return
    with _state:
        while _active and _current != count:
            _state.wait()
        if not _active:
            _before, _current = torch.get_num_threads(), count
            if _before != count:
                torch.set_num_threads(count)
        _active += 1
    try:
        yield
    finally:
        with _state:
            _active -= 1
            if not _active:
                if torch.get_num_threads() != _before:
                    torch.set_num_threads(_before)
                _current = None
                _state.notify_all()
