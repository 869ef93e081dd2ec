"""The image files of a frame folder, in natural name order: the one order every reader uses."""

from __future__ import annotations

import re
from pathlib import Path

from ..filters.images import IMAGE_SUFFIXES


def natural_key(path: Path) -> list[int | str]:
    """Sort key of a file name with its digit runs compared as numbers (``f2`` before ``f10``)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def image_files(folder: Path) -> list[Path]:
    """The entries of ``folder`` named like image files (PNG, TIFF, JPEG) in natural name order.

    Hidden ones are skipped. Every other entry with such a name is listed, whether or not it can be
    read (a link to nothing, a folder): a reader reports it rather than losing a frame.
    """
    paths = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]
    return sorted(paths, key=natural_key)
