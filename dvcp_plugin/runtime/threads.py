"""Torch CPU threads of an engine's own: a team of threads whose count is set once, when each starts.

``torch.set_num_threads`` sets the count of the calling thread, and also the count that every
thread which has not used torch yet takes when it first does (torch's default for the process).
Setting it around a piece of work and restoring it afterwards cannot keep its word when pieces of
work overlap on several threads: a thread that first meets torch while another's count is set
takes that count, restores it later as its own, and leaves it as the default for every thread
started afterwards. So an engine with a thread count runs its torch work on a :class:`ThreadTeam`:
threads of its own, each set to the count once, as it starts. The callers' threads (VapourSynth's,
a script's) are never touched, and the process default is put back at once, from a thread that
then ends. (While a team thread starts, for that moment, a thread meeting torch for the first
time elsewhere would take the team's count.)
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

MAX_THREADS = 32  # of a team: its threads start as callers need them at once, up to this many
_starting = threading.Lock()  # team threads start one at a time, so each reads the true default
_member = threading.local()  # the team (a weak reference) a thread belongs to


def _in_new_thread[T](work: Callable[[], T]) -> T:
    """``work()`` on a thread started for it (one that has never used torch)."""
    result: list[T] = []
    thread = threading.Thread(target=lambda: result.append(work()), name="dvcp-torch-default")
    thread.start()
    thread.join()
    return result[0]


def _join(team: weakref.ref[ThreadTeam], count: int) -> None:
    """Make the starting thread a member of ``team``: its torch count set, the process default put back."""
    with _starting:
        default = _in_new_thread(torch.get_num_threads)  # a new thread takes the process default
        torch.get_num_threads()  # this thread's torch set up now, not at its first work (it would take the default)
        torch.set_num_threads(count)  # this thread's count, and for now the default too...
        _in_new_thread(lambda: torch.set_num_threads(default))  # ...put back from a thread that then ends
    _member.team = team


class ThreadTeam:
    """Threads that run torch work with ``count`` CPU threads each; ``run`` hands them the work.

    Its threads hold no reference to it: once it is collected, they end.
    """

    def __init__(self, count: int, name: str = "dvcp-torch") -> None:
        self.count = count
        self._pool = ThreadPoolExecutor(MAX_THREADS, name, initializer=_join, initargs=(weakref.ref(self), count))
        weakref.finalize(self, self._pool.shutdown, wait=False)

    def run[T](self, work: Callable[..., T], *args: Any) -> T:
        """``work(*args)`` on one of the team's threads (in place when called from one)."""
        member = getattr(_member, "team", None)
        if member is not None and member() is self:
            return work(*args)
        return self._pool.submit(work, *args).result()
