"""Torch's CPU threads for one piece of work, without changing them for the rest of the process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` torch CPU threads on the calling thread, then restore the count.

    ``torch.set_num_threads`` sets the OpenMP team size of the calling thread (and the default for
    threads that start torch work later), so setting it only around the work and restoring it
    leaves every other user of torch in the process as it was. ``None`` changes nothing.
    """
    before = torch.get_num_threads()
    if count is None or count == before:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
