"""Colour frame sequences for training and evaluation: finding them, the licence filter, reading frames.

A data folder is either one sequence (a folder of colour frames such as ``00000.jpg …``, in natural
name order, as ``dvcp colorize`` reads a folder) or a folder of such sequence folders. A frame is
read as 8-bit RGB and split into BT.601 full-range luma quantised to 8 bits (the evaluation's input
grey) and zero-centred chroma. Sampling clips for training is :mod:`dvcp_plugin.training.clips`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence as SequenceOf
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import DvcpError
from ..filters.images import IMAGE_SUFFIXES, ImageError, read_image
from ..media.frames import image_files
from ..models.color import grey_u8, rgb_to_luma_chroma

log = logging.getLogger(__name__)


class DataError(DvcpError):
    """Training or evaluation data that is missing, unreadable or unusable."""


@dataclass(frozen=True)
class Sequence:
    """One sequence: its name (folder name) and its frame files in order."""

    name: str
    frames: tuple[Path, ...]


def find_sequences(data_dirs: SequenceOf[str | Path], min_frames: int = 1) -> list[Sequence]:
    """The sequences under ``data_dirs``: each is a sequence folder or a folder of sequence folders."""
    sequences: list[Sequence] = []
    for data_dir in data_dirs:
        root = Path(data_dir)
        if not root.is_dir():
            raise DataError(f"data folder {root} does not exist or is not a folder")
        own = image_files(root)
        folders = [root] if own else sorted(p for p in root.iterdir() if p.is_dir())
        found = [Sequence(f.name, tuple(image_files(f))) for f in folders]
        found = [s for s in found if s.frames]
        if not found:
            raise DataError(
                f"{root} holds no frame sequences: expected image files ({', '.join(IMAGE_SUFFIXES)}) "
                "in it or in its sub-folders"
            )
        sequences.extend(found)
    names = [s.name for s in sequences]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DataError(f"several sequences share the folder name(s) {', '.join(duplicates)}")
    short = [s.name for s in sequences if len(s.frames) < min_frames]
    if short:
        raise DataError(f"sequences with fewer than {min_frames} frames: {', '.join(short)}")
    return sequences


_ROW = re.compile(r"^\|\s*([^|]+?)\s*\|.*\|\s*([^|]*?)\s*\|\s*$")


def licensed_folders(licenses_md: str | Path) -> set[Path]:
    """Folders marked "yes" in the last column of the table in ``licenses_md`` (resolved paths).

    Folder cells are relative to the file's own folder (``train/sam2-dog``).
    """
    path = Path(licenses_md)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read the licence table {path}: {exc}") from exc
    allowed = set()
    for line in text.splitlines():
        match = _ROW.match(line.strip())
        if match and match.group(2).lower().startswith("yes"):
            allowed.add((path.parent / match.group(1)).resolve())
    if not allowed:
        raise DataError(f"{path} marks no folder 'yes' in the last column of its table")
    return allowed


def keep_licensed(sequences: list[Sequence], licenses_md: str | Path) -> list[Sequence]:
    """Only the sequences whose folder is marked "yes" in ``licenses_md``; the others are named on stderr."""
    allowed = licensed_folders(licenses_md)
    kept = [s for s in sequences if s.frames[0].parent.resolve() in allowed]
    dropped = [s.name for s in sequences if s not in kept]
    if dropped:
        log.warning("not licensed for training, skipped: %s", ", ".join(dropped))
    if not kept:
        raise DataError(f"no sequence is marked 'yes' in {licenses_md}")
    return kept


def load_frame(path: Path) -> np.ndarray:
    """An 8-bit RGB frame (H, W, 3) from ``path``; other formats are a clear error."""
    try:
        image = read_image(path)
    except ImageError as exc:
        raise DataError(str(exc)) from exc
    if image.ndim != 3 or image.shape[2] != 3:
        raise DataError(f"{path} is not a colour image (shape {image.shape})")
    if image.dtype == np.uint16:
        image = np.floor(image.astype(np.float64) / 257.0 + 0.5).astype(np.uint8)
    return image


def frame_planes(rgb: np.ndarray) -> tuple[Tensor, Tensor]:
    """Full-resolution (grey (H,W) from the 8-bit luma, chroma (2,H,W) zero-centred) of an RGB frame."""
    grey = torch.from_numpy(grey_u8(rgb)).float() / 255.0
    tensor = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255.0
    _, chroma = rgb_to_luma_chroma(tensor, "601")
    return grey, chroma[0]
