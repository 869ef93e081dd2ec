"""Checkpoints: the final chroma of every ``checkpoint_interval``-th frame of each chain, never dropped.

They are what bounds a seek: a frame whose chain has passed it is recomputed from the checkpoint
before it. So no checkpoint is ever forgotten. Up to a byte budget they are held in memory; beyond
it the least recently used are written to a temporary folder (created on the first spill, removed
when the cache is collected, the process exits or is told to stop, or by a later process once this
one is gone: :mod:`.spill_folders`) and read back when needed. Both ways are exact: a tensor read
back is bit-identical to the one written.
"""

from __future__ import annotations

import itertools
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Hashable
from pathlib import Path

import torch

from . import spill_folders

log = logging.getLogger(__name__)


def tensor_bytes(*tensors: torch.Tensor) -> int:
    """Bytes held by the elements of ``tensors``."""
    return sum(t.numel() * t.element_size() for t in tensors)


class Checkpoints:
    """Tensors by key, in memory up to ``budget`` bytes (the newest always), the rest on disk.

    Safe to use from several threads. Its lock guards the bookkeeping alone: a tensor is written to
    disk and read back outside it, and a tensor being written is served from memory meanwhile.
    """

    def __init__(self, budget: int) -> None:
        spill_folders.prepare()
        self.budget, self.used = budget, 0
        self._lock = threading.Lock()
        self._memory: OrderedDict[Hashable, torch.Tensor] = OrderedDict()
        self._writing: dict[Hashable, torch.Tensor] = {}  # spilled, its file not written yet
        self._files: dict[Hashable, tuple[Path, torch.device]] = {}
        self._names = itertools.count()
        self._folder: Path | None = None

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._memory or key in self._writing or key in self._files

    def __len__(self) -> int:
        with self._lock:
            return len(self._memory) + len(self._writing) + len(self._files)

    @property
    def spilled(self) -> int:
        """How many checkpoints are on disk (or being written there)."""
        with self._lock:
            return len(self._files) + len(self._writing)

    def largest_bytes(self) -> int:
        """Bytes of the largest checkpoint held in memory."""
        with self._lock:
            return max((tensor_bytes(t) for t in self._memory.values()), default=0)

    def put(self, key: Hashable, tensor: torch.Tensor) -> None:
        """Keep ``tensor`` under ``key``; spill the least recently used beyond the budget to disk."""
        spill = []
        with self._lock:
            if key in self._memory or key in self._writing or key in self._files:
                return
            self._memory[key] = tensor
            self.used += tensor_bytes(tensor)
            while self.used > self.budget and len(self._memory) > 1:
                old_key, old = self._memory.popitem(last=False)
                self.used -= tensor_bytes(old)
                self._writing[old_key] = old
                spill.append((old_key, old))
        for old_key, old in spill:
            path = self._write(old)
            with self._lock:
                self._files[old_key] = (path, old.device)
                del self._writing[old_key]

    def get(self, key: Hashable) -> torch.Tensor | None:
        """The tensor under ``key`` (read back from disk when spilled), or None."""
        with self._lock:
            tensor = self._memory.get(key)
            if tensor is not None:
                self._memory.move_to_end(key)
                return tensor
            tensor = self._writing.get(key)
            if tensor is not None:
                return tensor
            found = self._files.get(key)
        if found is None:
            return None
        path, device = found
        return torch.load(path, map_location="cpu", weights_only=True).to(device)

    def _write(self, tensor: torch.Tensor) -> Path:
        with self._lock:
            if self._folder is None:
                self._folder = spill_folders.make_spill_folder()
                weakref.finalize(self, spill_folders.remove, self._folder)
                log.debug("checkpoints beyond %d bytes in memory are written to %s", self.budget, self._folder)
            path = self._folder / f"{next(self._names)}.pt"
        torch.save(tensor.detach().cpu().clone(), path)  # a compact copy, not a view's whole storage
        return path
