"""The non-recursive work of the chains, done ahead of them and outside their locks.

A chain step is :meth:`Engine.prepare` (grey frames at the working and motion resolutions,
motion, kernels, the global estimate: nothing that needs the previous colours) then
:meth:`Engine.chain` (the local stage on the previous final chroma, then refine). The state
cache asks a :class:`Preparer` to prepare the steps it is about to chain, and the next few of
each chain, before it takes the chain's lock; with a worker thread the preparing of the next
frames then runs while the chain computes the current one.

Each step is prepared alone, exactly as :meth:`Engine.step` would, by one thread with the
engine's torch thread count: results do not depend on which thread prepared them, or when. The
worker never reads frames (that calls back into VapourSynth); the requesting thread reads them
and hands over their luma.

A worker pays only where the preparing can run beside the chain: on a GPU, or on a CPU with cores
for both threads' torch teams (:func:`worker_count`). Elsewhere the requesting thread prepares
each step itself, still before it takes the chain's lock: on two busy CPU cores a worker only
shares the same cores and gains nothing (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Hashable
from concurrent.futures import Future, ThreadPoolExecutor

import torch

from .engine import Engine, Grey, KeyState, StepInputs


def worker_count(engine: Engine) -> int:
    """1 when a worker can prepare beside the chain (a GPU, or CPU cores for two torch teams), else 0."""
    if engine.device.type != "cpu":
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return 1 if cores >= 2 * (engine.options.threads or torch.get_num_threads()) else 0


Frame = Grey | torch.Tensor  # a grey frame already at the working resolutions, or its full-resolution luma
Prepared = tuple[StepInputs, Grey]  # a step's inputs and its current grey (refine needs it)


class Preparer:
    """Prepared steps by key, at most ``capacity`` kept, computed on ``workers`` threads (0: in the caller)."""

    def __init__(self, engine: Engine, workers: int = 1, capacity: int = 8, greys: int = 8) -> None:
        self.engine, self.capacity, self._grey_count = engine, max(1, capacity), max(2, greys)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="dvcp-prepare") if workers > 0 else None
        self._jobs: OrderedDict[Hashable, Future[Prepared]] = OrderedDict()
        self._greys: OrderedDict[int, Grey] = OrderedDict()
        self._lock = threading.Lock()

    def grey(self, n: int) -> Grey | None:
        """Frame ``n`` at the working resolutions, if one was made lately."""
        with self._lock:
            return self._greys.get(n)

    def has(self, key: Hashable) -> bool:
        """Whether the step ``key`` is being or has been prepared (and not taken since)."""
        with self._lock:
            return key in self._jobs

    def submit(self, key: Hashable, state: KeyState, prev: tuple[int, Frame], cur: tuple[int, Frame]) -> None:
        """Prepare the step ``key`` from frames ``prev`` and ``cur`` ((frame number, grey or luma)), once."""
        with self._lock:
            if key in self._jobs:
                return
            job: Future[Prepared] = Future()
            self._jobs[key] = job
            self._trim()
        if self._pool is None:
            self._run(job, state, prev, cur)
        else:
            self._pool.submit(self._run, job, state, prev, cur)

    def take(self, key: Hashable) -> Prepared | None:
        """The prepared step ``key`` (waiting for it if it is being prepared), or None if it was never
        submitted or has been dropped; it is forgotten once taken."""
        with self._lock:
            job = self._jobs.pop(key, None)
        return None if job is None else job.result()

    def discard(self, key: Hashable) -> None:
        """Forget the step ``key`` (its result was computed by another request)."""
        with self._lock:
            job = self._jobs.pop(key, None)
        if job is not None:
            job.cancel()

    def _trim(self) -> None:
        """Drop the oldest finished steps beyond ``capacity`` (steps in progress are kept)."""
        extra = len(self._jobs) - self.capacity
        for key in [k for k, job in self._jobs.items() if job.done()][: max(extra, 0)]:
            del self._jobs[key]

    def _run(self, job: Future[Prepared], state: KeyState, prev: tuple[int, Frame], cur: tuple[int, Frame]) -> None:
        if not job.set_running_or_notify_cancel():
            return
        try:
            job.set_result(self._prepare(state, prev, cur))
        except BaseException as exc:  # handed to the request that takes the step
            job.set_exception(exc)

    def _prepare(self, state: KeyState, prev: tuple[int, Frame], cur: tuple[int, Frame]) -> Prepared:
        prev_grey, cur_grey = self._to_grey(*prev), self._to_grey(*cur)
        return self.engine.prepare(state, prev_grey, cur_grey), cur_grey

    def _to_grey(self, n: int, frame: Frame) -> Grey:
        if isinstance(frame, Grey):
            return frame
        grey = self.engine.to_grey(frame)
        with self._lock:
            self._greys[n] = grey
            self._greys.move_to_end(n)
            while len(self._greys) > self._grey_count:
                self._greys.popitem(last=False)
        return grey
