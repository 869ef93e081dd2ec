"""Where the state cache keeps what it computed, within ``cache_mb``.

* results: each chain's estimates of recent frames (:class:`StepOutput`), in an LRU of 5/8 of
  the budget;
* checkpoints: each chain's final chroma at every ``checkpoint_interval``-th frame and at its
  keyframe, never dropped: 1/4 of the budget in memory, the rest spilled to disk
  (:class:`~dvcp_plugin.runtime.chain_checkpoints.Checkpoints`);
* keyframe states (features computed once per keyframe), in an LRU of 1/8 of the budget.

Every method takes the store's own lock, held only for the lookup or the update itself: a
checkpoint is written to disk or read back after the store's lock is let go (the checkpoints keep
their own books), so no request waits on another's disk.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import torch

from .chain_checkpoints import Checkpoints, tensor_bytes
from .engine import KeyState, StepOutput
from .shot_map import Chain


class _LRU:
    """Values by key, bounded by the bytes they hold (the newest entry is always kept)."""

    def __init__(self, budget: int, size: Callable[[object], int]) -> None:
        self.budget, self.size, self.used = budget, size, 0
        self.items: OrderedDict[Hashable, object] = OrderedDict()

    def get(self, key: Hashable) -> object | None:
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
        return value

    def put(self, key: Hashable, value: object) -> None:
        if key in self.items:
            self.used -= self.size(self.items.pop(key))
        self.items[key] = value
        self.used += self.size(value)
        while self.used > self.budget and len(self.items) > 1:
            _, old = self.items.popitem(last=False)
            self.used -= self.size(old)


class StateStore:
    """Results, checkpoints and keyframe states of one state cache, within ``budget`` bytes of memory."""

    def __init__(self, budget: int, checkpoint_interval: int) -> None:
        self.interval = checkpoint_interval
        self.results = _LRU(budget * 5 // 8, lambda out: tensor_bytes(*out))  # type: ignore[misc]
        self.checkpoints = Checkpoints(budget // 4)
        self.keys = _LRU(max(budget // 8, 1), lambda key: key.nbytes())  # type: ignore[attr-defined]
        self._lock = threading.Lock()

    def memory_bytes(self) -> int:
        """Bytes held in memory by results, checkpoints and keyframe states."""
        with self._lock:
            return self.results.used + self.keys.used + self.checkpoints.used

    def largest_entry_bytes(self) -> int:
        """Bytes of the largest single entry in memory (each part always keeps its newest)."""
        with self._lock:
            sizes = [lru.size(value) for lru in (self.results, self.keys) for value in lru.items.values()]
        return max([*sizes, self.checkpoints.largest_bytes()])

    def key_state(self, key: int) -> KeyState | None:
        """The state of the keyframe at frame ``key``, if kept."""
        with self._lock:
            return self.keys.get(key)  # type: ignore[return-value]

    def put_key_state(self, key: int, state: KeyState, start: torch.Tensor) -> None:
        """Keep keyframe ``key``'s state, and ``start`` (its working chroma) as the start of both its chains."""
        with self._lock:
            self.keys.put(key, state)
        for step in (1, -1):
            self.checkpoints.put((Chain(key, step), key), start)

    def output(self, chain: Chain, n: int) -> StepOutput | None:
        """``chain``'s estimates of frame ``n``, if kept."""
        with self._lock:
            return self.results.get((chain, n))  # type: ignore[return-value]

    def put(self, chain: Chain, n: int, out: StepOutput) -> None:
        """Keep ``chain``'s estimates of frame ``n`` (and its final chroma, at a checkpoint)."""
        with self._lock:
            self.results.put((chain, n), out)
        if chain.checkpointed(n, self.interval):
            self.checkpoints.put((chain, n), out.final)

    def resume_point(self, chain: Chain, n: int) -> tuple[int, torch.Tensor] | None:
        """The kept state of ``chain`` nearest before frame ``n`` in its direction: (frame, final
        chroma); None when not even its start is kept."""
        with self._lock:
            m = n - chain.step
            while (m - chain.key) * chain.step >= 0:
                out = self.results.get((chain, m))
                if out is not None:
                    return m, out.final  # type: ignore[attr-defined]
                if chain.checkpointed(m, self.interval) and (chain, m) in self.checkpoints:
                    break
                m -= chain.step
            else:
                return None
        final = self.checkpoints.get((chain, m))  # perhaps read back from disk: not under the store's lock
        assert final is not None  # checkpoints are never dropped
        return m, final
