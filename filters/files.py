"""Files written whole or not at all, and the digest that identifies a file's content."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_BLOCK = 1 << 20


def write_all(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` (created or truncated) and sync it to disk.

    Every ``os.write`` is checked: a write that makes no progress (a full disk, a quota) raises
    ``OSError``, and so does a file whose size afterwards is not ``len(data)``. The caller removes
    what is left; nothing here reports success for a short file.
    """
    view = memoryview(data).cast("B")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        done = 0
        while done < len(view):
            written = os.write(fd, view[done : done + _BLOCK])
            if written <= 0:
                raise OSError(f"short write: {done} of {len(view)} bytes written to {path}")
            done += written
        os.fsync(fd)
        size = os.fstat(fd).st_size
        if size != len(view):
            raise OSError(f"short write: {path} holds {size} bytes, {len(view)} were written")
    finally:
        os.close(fd)


def file_digest(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of the file's content, as hex."""
    digest = hashlib.sha256()
    with open(Path(path), "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()
