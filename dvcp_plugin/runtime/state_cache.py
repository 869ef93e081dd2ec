"""The state cache: computes any frame of any shot, in any order, from any thread, with bounded memory.

VapourSynth asks for frames out of order and from several threads. A frame between two keyframes
of its shot is coloured by two chains (forward from the keyframe before it, backward from the
one after; see :mod:`~dvcp_plugin.runtime.shot_map`), blended by
:func:`~dvcp_plugin.models.bidirectional.blend_chains`; elsewhere one chain colours it. Each
chain is recursive: its frame n needs its own final chroma of the frame before (in its
direction). A request for frame n therefore runs each chain that reaches n from that chain's
nearest kept state before n (a result, a checkpoint, or its keyframe; see
:mod:`~dvcp_plugin.runtime.state_store`) up to n.

Once a chain has passed frame n, a request for n recomputes at most ``checkpoint_interval``
steps of it, since checkpoints are never dropped. Every step is computed from the same inputs
in the same way, so frame n's output does not depend on the order frames were requested in.

Locks: frames are read holding no lock (reading may call back into VapourSynth, whose worker
threads must not wait on us). The non-recursive part of each step is prepared outside the
chain's lock (see :mod:`~dvcp_plugin.runtime.prepare_ahead`); under it runs only
:meth:`Engine.chain`, one step at a time, and a step another request has just computed is
reused, not recomputed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

import torch

from ..errors import DvcpError
from ..models.bidirectional import blend_chains
from . import interrupts
from .engine import Engine, KeyState, StepOutput
from .frame_reader import FrameReader, ReadFrame
from .freed_memory import FreedMemory
from .prepare_ahead import Frame, Preparer, worker_count
from .shot_map import Chain, KeyAt, Route, ShotError, ShotMap
from .state_store import StateStore

__all__ = ["ReadFrame", "ReadKey", "ShotError", "StateCache"]

log = logging.getLogger(__name__)

# read_key(n) -> full-resolution chroma (2,H,W) of the keyframe at n
ReadKey = Callable[[int], torch.Tensor]


class StateCache:
    """Per-pipeline cache of keyframe states, chain results and checkpoints; see the module doc.

    ``workers``: threads that prepare steps ahead of the chains (None: :func:`worker_count`; 0: each
    request prepares its own steps before it takes the chain's lock); with a worker, ``ahead`` is how
    many frames past the one requested each chain prepares. ``unreadable`` are the errors with which
    ``read_frame`` says a frame cannot be read: a frame read ahead that fails so is left to its own
    request, and any other error goes up.
    """

    def __init__(
        self,
        engine: Engine,
        keyframes: Iterable[int],
        read_frame: ReadFrame,
        read_key: ReadKey,
        length: int,
        cache_mb: float = 1024,
        checkpoint_interval: int = 8,
        key_at: KeyAt | None = None,
        unkeyed_cuts: str = "error",
        ahead: int = 1,
        workers: int | None = None,
        unreadable: tuple[type[BaseException], ...] = (DvcpError,),
    ) -> None:
        interrupts.watch()  # Ctrl-C stops a long request between two steps (see :mod:`.interrupts`)
        workers = worker_count(engine) if workers is None else workers
        self.engine, self.read_key, self.ahead = engine, read_key, max(0, ahead) if workers > 0 else 0
        self.shots = ShotMap(length, keyframes, key_at, unkeyed_cuts)
        self.frames = FrameReader(read_frame, self.shots)
        self.store = StateStore(int(cache_mb * 2**20), max(1, checkpoint_interval))
        self.preparer = Preparer(engine, workers, capacity=4 * (self.ahead + 1))
        self._locks: dict[Chain, threading.Lock] = {}  # one per chain: its steps are computed under it
        self._locks_lock = threading.Lock()
        self._key_lock = threading.Lock()  # keyframe states are made under it, each once
        self._last_request = -1
        self._unreadable = unreadable
        self.freed = FreedMemory()  # keeps a long shot's process from growing (see :mod:`.freed_memory`)

    @property
    def keyframes(self) -> list[int]:
        """The keyframe positions, those found at scene changes so far included."""
        return list(self.shots.keyframes)

    def is_keyframe(self, n: int) -> bool:
        """Whether frame ``n`` is a keyframe."""
        return self.shots.is_keyframe(n)

    def memory_bytes(self) -> int:
        """Bytes held in memory by cached results, checkpoints and keyframe states."""
        return self.store.memory_bytes()

    def largest_entry_bytes(self) -> int:
        """Bytes of the largest single entry (each part of the store always keeps its newest)."""
        return self.store.largest_entry_bytes()

    def estimate(self, n: int) -> StepOutput:
        """The local, global and final estimates of frame ``n`` at the working resolution."""
        started = time.monotonic()
        route = self._route(n)
        forwards, self._last_request = n > self._last_request, n  # the way requests go, for preparing ahead
        if not route.chains:
            return self.engine.key_output(self.read_key(n))
        outs = [self._run(chain, n, (chain.step > 0) == forwards, started) for chain in route.chains]
        if len(outs) == 1:
            return outs[0]
        assert route.forward is not None and route.backward is not None
        return self.engine.run(blend_chains, outs[0], outs[1], n - route.forward.key, route.backward.key - n)

    def _route(self, n: int) -> Route:
        while True:
            route = self.shots.route(n)
            if isinstance(route, Route):
                return route
            for m in route:  # their scene changes decide which chains reach n
                self.frames.luma(m)

    def _chain_lock(self, chain: Chain) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(chain, threading.Lock())

    def _key_state(self, k: int) -> KeyState:
        state = self.store.key_state(k)
        if state is not None:
            return state
        luma, chroma = self.frames.luma(k), self.read_key(k)
        with self._key_lock:
            state = self.store.key_state(k)
            if state is None:
                state = self.engine.prepare_key(luma, chroma)
                self.store.put_key_state(k, state, self.engine.key_output(chroma).final)
        return state

    def _run(self, chain: Chain, n: int, ahead: bool, started: float) -> StepOutput:
        """``chain``'s estimates of frame ``n``, computed from its nearest kept state before ``n``.

        Between two steps it stops with :class:`~.interrupts.Interrupted` when Ctrl-C or SIGTERM
        came after ``started`` (a ``time.monotonic()``), the time the request began.
        """
        done = self.store.output(chain, n)
        if done is not None:
            return done
        state = self._key_state(chain.key)
        resume = self.store.resume_point(chain, n)
        assert resume is not None  # the keyframe's state holds the chain's start
        start, final = resume
        steps = list(range(start + chain.step, n + chain.step, chain.step))
        wanted = steps + (self._ahead_of(chain, n) if ahead else [])
        window = self.ahead + 1
        out: StepOutput | None = None
        for i, m in enumerate(steps):
            interrupts.check(started)
            for later in wanted[i : i + window]:
                self._submit(chain, state, later)
            out = self._chain_step(chain, m, final)
            while out is None:  # its prepared step was dropped meanwhile: prepare it again
                self._submit(chain, state, m)
                out = self._chain_step(chain, m, final)
            final = out.final
        assert out is not None
        return out

    def _chain_step(self, chain: Chain, m: int, final: torch.Tensor) -> StepOutput | None:
        """Frame ``m`` of ``chain`` from the final chroma of the frame before it: kept, or computed
        now from its prepared step; None when that step is not prepared."""
        with self._chain_lock(chain):
            out = self.store.output(chain, m)
            if out is not None:
                self.preparer.discard((chain, m))
                return out
            prepared = self.preparer.take((chain, m))
            if prepared is None:
                return None
            inputs, cur = prepared
            out = self.engine.chain(inputs, cur, final)
            self.store.put(chain, m, out)
            self.freed.step_done()
            return out

    def _submit(self, chain: Chain, state: KeyState, m: int) -> None:
        """Have step ``m`` of ``chain`` prepared, unless it is, or its result is kept."""
        if self.preparer.has((chain, m)) or self.store.output(chain, m) is not None:
            return
        prev = m - chain.step
        self.preparer.submit((chain, m), state, (prev, self._frame(prev)), (m, self._frame(m)))

    def _frame(self, n: int) -> Frame:
        return self.preparer.grey(n) or self.frames.luma(n)

    def _ahead_of(self, chain: Chain, n: int) -> list[int]:
        """The next ``ahead`` frames of ``chain`` after ``n``, up to a keyframe, a scene change or the clip's end."""
        frames = []
        for m in range(n + chain.step, n + chain.step * (self.ahead + 1), chain.step):
            if not 0 <= m < self.shots.length or self.shots.is_keyframe(m):
                break
            crossing = max(m, m - chain.step)  # the frame whose scene change lies between m and the frame before
            try:
                self.frames.luma(crossing)
            except self._unreadable as exc:  # a frame that cannot be read fails its own request, not this one
                log.debug("frame %d, read ahead, cannot be read: %s", crossing, exc)
                break
            if self.shots.scene_change(crossing) or self.shots.is_keyframe(m):
                break
            frames.append(m)
        return frames
