"""The state cache: computes any frame of any shot, in any order, with bounded memory.

VapourSynth asks for frames out of order and from several threads. The local stage is
recursive, so frame n needs the final chroma of frame n-1. :class:`StateCache` keeps

* recent results (local, global, confidence, final) in an LRU bounded in bytes,
* checkpoints: the final chroma of every ``checkpoint_interval``-th frame, in a second LRU,
* keyframe states (features computed once per keyframe), in a small LRU,

and computes a requested frame forward from the nearest stored state at or before it. Every
step is computed from the same inputs in the same way, so the output of frame n does not depend
on the order frames were requested in. Frames are read *without* holding the lock (reading
may call back into VapourSynth, whose worker threads must not wait on us), and computed under it,
so a frame computed by one thread is reused, not recomputed, by the others.

Shots start at keyframes and at frames that ``read_frame`` reports as scene changes. A scene
change becomes a new keyframe when ``key_at`` says a keyframe can be read there (a full-length
colour clip of keyframes); otherwise what happens is ``unkeyed_cuts``: ``"error"``, a
:class:`ShotError` naming the frame, or ``"continue"``, the shot goes on across the cut (scene
detectors report false cuts).
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from ..errors import DvcpError
from .engine import Engine, KeyState, StepOutput

# read_frame(n) -> (full-resolution luma (H,W) in [0,1], True when frame n starts a new shot)
ReadFrame = Callable[[int], tuple[torch.Tensor, bool]]
# read_key(n) -> full-resolution chroma (2,H,W) of the keyframe at n
ReadKey = Callable[[int], torch.Tensor]
# key_at(n) -> whether a keyframe can be read at frame n (a shot found there then starts with it)
KeyAt = Callable[[int], bool]
UNKEYED_CUTS = ("error", "continue")


class ShotError(DvcpError):
    """A frame that no keyframe colours: before the first keyframe, or a new shot without one."""


def _nbytes(*tensors: torch.Tensor) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


class _LRU:
    """An OrderedDict bounded by the bytes its values hold."""

    def __init__(self, budget: int, size: Callable[[object], int]) -> None:
        self.budget, self.size, self.used = budget, size, 0
        self.items: OrderedDict[int, object] = OrderedDict()

    def get(self, key: int) -> object | None:
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
        return value

    def put(self, key: int, value: object) -> None:
        if key in self.items:
            self.used -= self.size(self.items.pop(key))
        self.items[key] = value
        self.used += self.size(value)
        while self.used > self.budget and len(self.items) > 1:
            _, old = self.items.popitem(last=False)
            self.used -= self.size(old)


@dataclass
class _Plan:
    key_index: int
    start: int  # the frame whose final chroma is known (or the keyframe)
    start_final: torch.Tensor | None  # None: start at the keyframe itself
    key: KeyState | None


class StateCache:
    """Per-pipeline cache of keyframe states, results and checkpoints; see the module doc."""

    def __init__(
        self,
        engine: Engine,
        keyframes: Iterable[int],
        read_frame: ReadFrame,
        read_key: ReadKey,
        cache_mb: float = 1024,
        checkpoint_interval: int = 8,
        read_ahead: int = 8,
        key_at: KeyAt | None = None,
        unkeyed_cuts: str = "error",
    ) -> None:
        if unkeyed_cuts not in UNKEYED_CUTS:
            raise ValueError(f"unkeyed_cuts must be one of {UNKEYED_CUTS}, not {unkeyed_cuts!r}")
        self.unkeyed_cuts = unkeyed_cuts
        self.engine = engine
        self.keyframes = sorted(set(keyframes))
        if not self.keyframes:
            raise ShotError("no keyframes were given")
        self.read_frame, self.read_key, self.key_at = read_frame, read_key, key_at
        self.checkpoint_interval = max(1, checkpoint_interval)
        self.read_ahead = max(1, read_ahead)
        budget = int(cache_mb * 2**20)
        # shares of the budget: 5/8 results, 1/4 checkpoints, 1/8 keyframe states
        self.results = _LRU(budget * 5 // 8, lambda out: _nbytes(*out))
        self.checkpoints = _LRU(budget // 4, lambda t: _nbytes(t))
        self.keys = _LRU(max(budget // 8, 1), lambda k: k.nbytes())
        self._lock = threading.Lock()

    def memory_bytes(self) -> int:
        """Bytes held by cached results, checkpoints and keyframe states."""
        return self.results.used + self.checkpoints.used + self.keys.used

    def largest_entry_bytes(self) -> int:
        """Bytes of the largest single entry (an LRU always keeps its newest entry)."""
        return max(
            (lru.size(value) for lru in (self.results, self.checkpoints, self.keys)
             for value in lru.items.values()),
            default=0,
        )

    def keyframe_for(self, n: int) -> int:
        """The last keyframe at or before frame ``n``."""
        i = bisect.bisect_right(self.keyframes, n) - 1
        if i < 0:
            raise ShotError(
                f"frame {n} comes before the first keyframe ({self.keyframes[0]}); every shot "
                "needs a keyframe at or before its first frame"
            )
        return self.keyframes[i]

    def estimate(self, n: int) -> StepOutput:
        """The local, global and final estimates of frame ``n`` at the working resolution."""
        while True:
            with self._lock:
                done = self.results.get(n)
                if done is not None:
                    return done  # type: ignore[return-value]
                plan = self._plan(n)
            stop = min(n, plan.start + self.read_ahead)
            frames = {m: self.read_frame(m) for m in range(plan.start, stop + 1)}
            k = plan.key_index
            key_chroma = self.read_key(k) if plan.key is None or plan.start_final is None else None
            key_grey = None
            if plan.key is None:
                key_grey = frames[k][0] if k in frames else self.read_frame(k)[0]
            with self._lock:
                self._advance(plan, frames, key_grey, key_chroma, stop)

    def _plan(self, n: int) -> _Plan:
        k = self.keyframe_for(n)
        key = self.keys.get(k)
        for m in range(n - 1, k, -1):
            found = self.results.get(m)
            final = found.final if found is not None else self.checkpoints.get(m)  # type: ignore[union-attr]
            if final is not None:
                return _Plan(k, m, final, key)  # type: ignore[arg-type]
        return _Plan(k, k, None, key)

    def _advance(
        self,
        plan: _Plan,
        frames: dict[int, tuple[torch.Tensor, bool]],
        key_grey: torch.Tensor | None,
        key_chroma: torch.Tensor | None,
        stop: int,
    ) -> None:
        k = plan.key_index
        key = plan.key or self.keys.get(k)
        if key is None:
            assert key_grey is not None and key_chroma is not None
            key = self.engine.prepare_key(key_grey, key_chroma)
            self.keys.put(k, key)
        if plan.start_final is None:
            assert key_chroma is not None
            start_out = self.results.get(k) or self.engine.key_output(key_chroma)
            self.results.put(k, start_out)
            final = start_out.final  # type: ignore[union-attr]
        else:
            final = plan.start_final
        prev_grey = self.engine.to_grey(frames[plan.start][0])
        for m in range(plan.start + 1, stop + 1):
            grey, new_shot = frames[m]
            if new_shot:
                if self.key_at is not None and self.key_at(m):
                    if m not in self.keyframes:  # another thread may have found this cut first
                        bisect.insort(self.keyframes, m)  # the shot found here starts at its own key
                    return
                if self.unkeyed_cuts == "error":
                    raise ShotError(
                        f"frame {m} starts a new shot (_SceneChangePrev=1) but has no keyframe; "
                        f"give a keyframe at frame {m}, or, if the cut is false, let it continue the shot "
                        "(unkeyed_cuts='continue'; --unkeyed-cuts continue). dvcp_plugin.shots() and "
                        "`dvcp shots` list every shot without a keyframe"
                    )
            cur = self.engine.to_grey(grey)
            out = self.results.get(m)
            if out is None:
                out = self.engine.step(key, prev_grey, cur, final)
                self.results.put(m, out)
                if (m - k) % self.checkpoint_interval == 0:
                    self.checkpoints.put(m, out.final)
            final, prev_grey = out.final, cur  # type: ignore[union-attr]
