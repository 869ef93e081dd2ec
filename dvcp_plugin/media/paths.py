"""Output paths, checked before any long work: can a file be made there?"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import DvcpError


class OutputError(DvcpError):
    """An output that cannot be written, or that holds frames of another run."""


def _existing_ancestor(path: Path) -> Path:
    """``path`` itself when it exists, else its nearest existing parent."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_can_create(path: Path, container: Path, what: str) -> None:
    """Raise unless a file can be created in ``container`` (or in its nearest existing parent)."""
    base = _existing_ancestor(container)
    if not base.is_dir():
        raise OutputError(f"{what} {path} cannot be made: {base} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".dvcp-probe-", dir=base)
    except OSError as exc:
        raise OutputError(f"{what} {path} cannot be written: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(probe)


def check_writable_folder(folder: Path, what: str) -> None:
    """Raise :class:`OutputError` unless files can be created in ``folder`` (made if missing).

    Nothing is created: a probe file is made in ``folder`` or in its nearest existing parent and
    removed again, so a read-only or unreachable place fails now, not after the work.
    """
    _check_can_create(folder, folder, what)


def check_writable_file(path: Path, what: str) -> None:
    """Raise :class:`OutputError` unless the file ``path`` can be made (its folder made if missing)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{what} {path} is a folder; give a file name")
    _check_can_create(path, path.parent, what)
