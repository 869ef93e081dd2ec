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


def check_writable_folder(folder: Path, what: str) -> None:
    """Raise :class:`OutputError` unless files can be created in ``folder`` (made if missing).

    Nothing is created: a probe file is made in ``folder`` or in its nearest existing parent and
    removed again, so a read-only or unreachable place fails now, not after the work.
    """
    base = _existing_ancestor(folder)
    if not base.is_dir():
        blocker = f"{base} is a file" if base != Path(os.path.abspath(folder)) else "it is a file"
        raise OutputError(f"{what} {folder} cannot be a folder: {blocker}")
    try:
        fd, probe = tempfile.mkstemp(prefix=".dvcp-probe-", dir=base)
    except OSError as exc:
        raise OutputError(f"{what} {folder} cannot be written: {exc.strerror or exc} ({base})") from None
    os.close(fd)
    os.unlink(probe)


def check_writable_file(path: Path, what: str) -> None:
    """Raise :class:`OutputError` unless the file ``path`` can be made (its folder made if missing)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{what} {path} is a folder; give a file name")
    check_writable_folder(path.parent, f"the folder of {what}")
