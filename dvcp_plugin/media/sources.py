"""Inputs of the command line as VapourSynth clips: a folder of still images, or a video file.

A folder of PNG, TIFF or JPEG frames becomes a GRAY8/GRAY16/RGB24/RGB48 clip (chosen from the first
image, in natural name order; hidden files are skipped). Every image must have the first one's size
and kind: sizes and grey/colour are checked when the folder is opened, the sample depth when each
frame is read. A video file is opened through vapoursynth-bestsource (``core.bs.VideoSource``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import vapoursynth as vs
from PIL import Image, UnidentifiedImageError

from ..errors import DvcpError
from ..filters.arrays import array_clip, image_kind
from ..filters.images import IMAGE_SUFFIXES, ImageError, read_image
from .frames import image_files


class InputError(DvcpError):
    """An input folder or video that cannot be used; the message names it and the problem."""


@dataclass(frozen=True)
class Source:
    """An opened input, or a range of its frames: its clip, one output name stem per frame, its sample depth."""

    clip: vs.VideoNode
    names: list[str]
    bits: int
    suffix: str | None  # the image suffix of a frame folder; None for a video file
    description: str
    first: int = 0  # the input's frame at this clip's frame 0 (see :meth:`frames`)

    def frames(self, first: int, last: int) -> Source:
        """Frames ``first`` to ``last`` (inclusive) of this input, keeping their names."""
        if not 0 <= first <= last < len(self.names):
            raise InputError(f"frames [{first}, {last}] are not within the input's {len(self.names)} frames")
        return replace(
            self, clip=self.clip[first : last + 1], names=self.names[first : last + 1], first=self.first + first,
            description=f"frames {first}-{last} of {self.description}",
        )


def list_frames(folder: Path) -> list[Path]:
    """The image files of ``folder`` in natural name order (frame2 before frame10), hidden ones skipped."""
    if not folder.exists():
        raise InputError(f"input {folder} does not exist")
    if not folder.is_dir():
        raise InputError(f"input {folder} is not a folder")
    paths = image_files(folder)
    if not paths:
        raise InputError(f"input folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return paths


def _header(path: Path) -> tuple[tuple[int, int], bool]:
    """(width, height) and whether the image is in colour, from the file's header only."""
    try:
        with Image.open(path) as image:
            return image.size, image.mode == "P" or len(image.getbands()) >= 3
    except (UnidentifiedImageError, OSError):
        array = read_image(path)  # PIL lacks some TIFF layouts; OpenCV reads them whole
        return (array.shape[1], array.shape[0]), array.ndim == 3


def open_folder(folder: Path, fps: Fraction) -> Source:
    """A folder of frames as a clip (see the module doc)."""
    paths = list_frames(folder)
    try:
        first = read_image(paths[0])
    except ImageError as exc:
        raise InputError(str(exc)) from None
    size, colour = (first.shape[1], first.shape[0]), first.ndim == 3
    for path in paths[1:]:
        try:
            other_size, other_colour = _header(path)
        except ImageError as exc:
            raise InputError(str(exc)) from None
        if other_size != size:
            raise InputError(
                f"{path} is {other_size[0]}x{other_size[1]} but {paths[0].name} is {size[0]}x{size[1]}; "
                "every frame of a sequence must have the same size"
            )
        if other_colour != colour:
            raise InputError(
                f"{path} is {'colour' if other_colour else 'grey'} but {paths[0].name} is "
                f"{'colour' if colour else 'grey'}; every frame of a sequence must be of the same kind"
            )
    clip = array_clip(lambda n: read_image(paths[n]), len(paths), first, fps, lambda n: str(paths[n]))
    return Source(
        clip=clip, names=[p.stem for p in paths], bits=8 * first.itemsize, suffix=paths[0].suffix.lower(),
        description=f"{len(paths)} {image_kind(first)} frames {size[0]}x{size[1]} from {folder}",
    )


def open_video(path: Path) -> Source:
    """A video file as a clip, through vapoursynth-bestsource."""
    if not path.is_file():
        raise InputError(f"input {path} does not exist")
    if not hasattr(vs.core, "bs"):
        raise InputError(
            f"cannot read the video {path}: vapoursynth-bestsource is not installed "
            "(pip install vapoursynth-bestsource, or give a folder of frames)"
        )
    try:
        clip = vs.core.bs.VideoSource(source=str(path))
    except vs.Error as exc:
        raise InputError(f"cannot read the video {path}: {str(exc).strip()}") from None
    fmt = clip.format
    if fmt is None or fmt.id == vs.NONE or clip.width == 0:
        raise InputError(f"the video {path} changes format or size mid-stream; convert it to one first")
    if fmt.sample_type != vs.INTEGER or fmt.bits_per_sample > 16:
        raise InputError(f"the video {path} has {fmt.name} samples; dvcp reads 8 to 16-bit integer video")
    digits = max(6, len(str(clip.num_frames - 1)))
    return Source(
        clip=clip, names=[f"{n:0{digits}d}" for n in range(clip.num_frames)], bits=fmt.bits_per_sample,
        suffix=None, description=f"{clip.num_frames} frames {clip.width}x{clip.height} {fmt.name} from {path}",
    )


def open_input(path: Path, fps: Fraction) -> Source:
    """A folder of frames (at ``fps``) or a video file (at its own rate) as a :class:`Source`."""
    if path.is_dir() or not path.exists():
        return open_folder(path, fps)
    return open_video(path)
