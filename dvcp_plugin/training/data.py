"""Training data: colour frame sequences, preloaded at the working resolution, sampled as augmented clips.

A data folder is either one sequence (a folder of colour frames such as ``00000.jpg …``, in natural
name order, as ``dvcp colorize`` reads a folder) or a folder of such sequence folders. Frames are
converted to BT.601 full-range luma with the luma quantised to 8 bits (as the evaluation's input grey
is), and luma and chroma are downscaled to the working resolution with the same maths as
:meth:`dvcp_plugin.runtime.engine.Engine.to_working` (bilinear, antialiased). They are kept in
memory as uint8 (chroma offset by 0.5).

Sampling draws every random number from one ``torch.Generator`` whose state is saved in training
checkpoints, so a resumed run sees the same clips as an uninterrupted one.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import DvcpError
from ..filters.images import IMAGE_SUFFIXES, ImageError, read_image
from ..media.frames import image_files
from ..models.color import grey_u8, rgb_to_luma_chroma
from ..models.resolution import downscale, working_size


class DataError(DvcpError):
    """Training or evaluation data that is missing, unreadable or unusable."""


@dataclass(frozen=True)
class Sequence:
    """One sequence: its name (folder name) and its frame files in order."""

    name: str
    frames: tuple[Path, ...]


def find_sequences(data_dirs: list[str | Path], min_frames: int = 1) -> list[Sequence]:
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
        print(f"dvcp train: not licensed for training, skipped: {', '.join(dropped)}", file=sys.stderr)
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


def to_u8(planes: Tensor) -> Tensor:
    """(3,h,w) luma and zero-centred chroma -> uint8 (luma·255, (chroma+0.5)·255), rounded."""
    offset = torch.tensor([0.0, 0.5, 0.5]).view(3, 1, 1)
    return ((planes + offset) * 255.0).round().clamp(0, 255).to(torch.uint8)


def from_u8(planes: Tensor) -> Tensor:
    """Inverse of :func:`to_u8`: uint8 (..., 3, h, w) -> float luma [0,1] and zero-centred chroma."""
    values = planes.float() / 255.0
    offset = torch.tensor([0.0, 0.5, 0.5]).view(3, 1, 1)
    return values - offset


class ClipDataset:
    """Sequences preloaded at the working resolution, sampled as augmented clips of T frames.

    Augmentations (each drawn per clip): temporal stride 1..``max_stride`` (larger motion), time
    reversal, horizontal flip, a random crop, a chroma rotation by a uniform hue angle and a chroma
    scale (so the networks learn to move colours, not to recall the dataset's colours), and a luma
    gain and gamma.
    """

    def __init__(self, sequences: list[Sequence], scale: float, crop: int, min_frames: int = 3) -> None:
        if not sequences:
            raise DataError("no training sequences")
        self.crop = crop
        self.names: list[str] = []
        self.frames: list[Tensor] = []
        for seq in sequences:
            if len(seq.frames) < min_frames:
                print(f"dvcp train: {seq.name} has {len(seq.frames)} frames (< {min_frames}), skipped", file=sys.stderr)
                continue
            planes = []
            for path in seq.frames:
                grey, chroma = frame_planes(load_frame(path))
                size = working_size(grey.shape[0], grey.shape[1], scale)
                planes.append(to_u8(downscale(torch.cat([grey[None], chroma]), size)))
            shapes = {tuple(p.shape) for p in planes}
            if len(shapes) != 1:
                raise DataError(f"sequence {seq.name} mixes frame sizes {sorted(shapes)}")
            stack = torch.stack(planes)
            if min(stack.shape[-2:]) < crop:
                raise DataError(
                    f"sequence {seq.name} is {tuple(stack.shape[-2:])} at the working resolution, "
                    f"smaller than the {crop}-pixel training crop"
                )
            self.names.append(seq.name)
            self.frames.append(stack)
        if not self.frames:
            raise DataError(f"no sequence has at least {min_frames} frames")

    @property
    def total_frames(self) -> int:
        """Number of preloaded frames."""
        return sum(len(f) for f in self.frames)

    def sample(self, batch: int, length: int, max_stride: int, generator: torch.Generator) -> Tensor:
        """A batch of clips (B, T, 3, crop, crop): luma in [0,1] then zero-centred Cb, Cr."""
        clips = [self._clip(length, max_stride, generator) for _ in range(batch)]
        return torch.stack(clips)

    def _randint(self, low: int, high: int, generator: torch.Generator) -> int:
        """Uniform integer in [low, high]."""
        return int(torch.randint(low, high + 1, (1,), generator=generator))

    def _uniform(self, low: float, high: float, generator: torch.Generator) -> float:
        return low + (high - low) * float(torch.rand((), generator=generator))

    def _clip(self, length: int, max_stride: int, generator: torch.Generator) -> Tensor:
        frames = self.frames[self._randint(0, len(self.frames) - 1, generator)]
        count = len(frames)
        stride = min(self._randint(1, max_stride, generator), max(1, (count - 1) // (length - 1)))
        span = (length - 1) * stride
        if span >= count:
            raise DataError(f"a sequence has {count} frames, fewer than the clip length {length}")
        start = self._randint(0, count - 1 - span, generator)
        index = torch.arange(start, start + span + 1, stride)
        if self._randint(0, 1, generator):
            index = index.flip(0)
        height, width = frames.shape[-2:]
        top = self._randint(0, height - self.crop, generator)
        left = self._randint(0, width - self.crop, generator)
        clip = from_u8(frames[index, :, top : top + self.crop, left : left + self.crop])
        if self._randint(0, 1, generator):
            clip = clip.flip(-1)
        angle = self._uniform(-math.pi, math.pi, generator)
        gain = self._uniform(0.6, 1.3, generator)
        cos, sin = math.cos(angle) * gain, math.sin(angle) * gain
        cb, cr = clip[:, 1], clip[:, 2]
        chroma = torch.stack([cos * cb - sin * cr, sin * cb + cos * cr], dim=1).clamp(-0.5, 0.5)
        luma_gain = self._uniform(0.8, 1.2, generator)
        gamma = math.exp(self._uniform(-0.3, 0.3, generator))
        luma = (clip[:, :1].clamp(0, 1) ** gamma * luma_gain).clamp(0.0, 1.0)
        return torch.cat([luma, chroma], dim=1)
