"""Checkpoints: the final chroma of every ``checkpoint_interval``-th frame of each chain, never dropped.

They are what bounds a seek: a frame whose chain has passed it is recomputed from the checkpoint
before it. So no checkpoint is ever forgotten. Up to a byte budget they are held in memory; beyond
it the least recently used are written to a temporary folder (created on the first spill, removed
when the cache is collected, the process exits or is told to stop, or by a later process once
this one is gone: :mod:`.spill_folders`) and read back when needed. Both ways
are exact: a tensor read back is bit-identical to the one written.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Hashable
from pathlib import Path

import torch

from . import spill_folders


def tensor_bytes(*tensors: torch.Tensor) -> int:
    """Bytes held by the elements of ``tensors``."""
    return sum(t.numel() * t.element_size() for t in tensors)


class Checkpoints:
    """Tensors by key, in memory up to ``budget`` bytes (the newest always), the rest on disk."""

    def __init__(self, budget: int) -> None:
        spill_folders.prepare()
        self.budget, self.used = budget, 0
        self._memory: OrderedDict[Hashable, torch.Tensor] = OrderedDict()
        self._files: dict[Hashable, tuple[Path, torch.device]] = {}
        self._folder: Path | None = None

    def __contains__(self, key: Hashable) -> bool:
        return key in self._memory or key in self._files

    def __len__(self) -> int:
        return len(self._memory) + len(self._files)

    @property
    def spilled(self) -> int:
        """How many checkpoints are on disk."""
        return len(self._files)

    def largest_bytes(self) -> int:
        """Bytes of the largest checkpoint held in memory."""
        return max((tensor_bytes(t) for t in self._memory.values()), default=0)

    def put(self, key: Hashable, tensor: torch.Tensor) -> None:
        """Keep ``tensor`` under ``key``; spill the least recently used beyond the budget to disk."""
        if key in self:
            return
        self._memory[key] = tensor
        self.used += tensor_bytes(tensor)
        while self.used > self.budget and len(self._memory) > 1:
            old_key, old = self._memory.popitem(last=False)
            self.used -= tensor_bytes(old)
            self._files[old_key] = (self._write(old), old.device)

    def get(self, key: Hashable) -> torch.Tensor | None:
        """The tensor under ``key`` (read back from disk when spilled), or None."""
        tensor = self._memory.get(key)
        if tensor is not None:
            self._memory.move_to_end(key)
            return tensor
        found = self._files.get(key)
        if found is None:
            return None
        path, device = found
        return torch.load(path, map_location="cpu", weights_only=True).to(device)

    def _write(self, tensor: torch.Tensor) -> Path:
        if self._folder is None:
            self._folder = spill_folders.make_spill_folder()
            weakref.finalize(self, spill_folders.remove, self._folder)
        path = self._folder / f"{len(self._files)}.pt"
        torch.save(tensor.detach().cpu().clone(), path)  # a compact copy, not a view's whole storage
        return path
