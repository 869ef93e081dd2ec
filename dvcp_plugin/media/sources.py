"""Inputs of the command line as VapourSynth clips: a folder of still images, a video file or a script.

A folder of PNG, TIFF or JPEG frames becomes a GRAY8/GRAY16/RGB24/RGB48 clip (chosen from the first
image, in natural name order; hidden files are skipped). Every entry named like a frame is a frame:
one that cannot be read (a link to nothing, a folder, a file without read permission) is an error
when the folder is opened, and one whose data does not decode whole is an error when it is read.
Every image must have the first one's size and kind: sizes and grey/colour are checked when the
folder is opened, the sample depth when each frame is read. A video file is opened through
vapoursynth-bestsource (``core.bs.VideoSource``). A VapourSynth script (``.vpy``) runs in this
process as vspipe runs it (in its own folder, with its ``__file__`` and the arguments given as
``-a KEY=VALUE`` as text globals), and its output 0 is the clip: that is how scene changes
(``_SceneChangePrev``) from a detector reach the command line.

Every path is made absolute when its input is opened: the frames read later are those of the
folder that was opened, whatever the working folder is by then.
"""

from __future__ import annotations

import os
import runpy
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import vapoursynth as vs

from ..errors import DvcpError
from ..filters.arrays import array_clip, image_kind
from ..filters.files import file_digest
from ..filters.frame_errors import FrameErrors
from ..filters.images import IMAGE_SUFFIXES, ImageError, read_header, read_image, unreadable
from .frames import image_files


class InputError(DvcpError):
    """An input folder or video that cannot be used; the message names it and the problem."""


@dataclass(frozen=True)
class Source:
    """An opened input, or a range of its frames: its clip, an output name stem per frame, sample depth, files.

    ``errors`` keeps what went wrong reading a frame of a frame folder (see
    :class:`~dvcp_plugin.filters.frame_errors.FrameErrors`).
    """

    clip: vs.VideoNode
    names: list[str]
    bits: int
    suffix: str | None  # the image suffix of a frame folder; None for a video or a script
    description: str
    files: tuple[Path, ...]  # what the clip is read from: a frame folder's frames, a video or a script
    first: int = 0  # the input's frame at this clip's frame 0 (see :meth:`frames`)
    errors: FrameErrors | None = None
    arguments: Mapping[str, str] | None = None  # a script's arguments (``-a KEY=VALUE``), part of what it is
    cuts: bool = False  # whether its frames may carry scene changes (_SceneChangePrev): a script's may

    def frames(self, first: int, last: int) -> Source:
        """Frames ``first`` to ``last`` (inclusive) of this input, keeping their names.

        The range of a frame folder is read from its own frames' files only.
        """
        if not 0 <= first <= last < len(self.names):
            raise InputError(f"frames [{first}, {last}] are not within the input's {len(self.names)} frames")
        return replace(
            self, clip=self.clip[first : last + 1], names=self.names[first : last + 1], first=self.first + first,
            files=self.files[first : last + 1] if self.suffix is not None else self.files,
            description=f"frames {first}-{last} of {self.description}",
        )


def input_identity(source: Source) -> dict[str, Any]:
    """The input's content: ``{"files": [[name, size, sha256], ...]}`` of every file it is read from, and a
    script's ``arguments`` when it was given any."""
    identity: dict[str, Any] = {
        "files": [[path.name, path.stat().st_size, file_digest(path)] for path in source.files]
    }
    if source.arguments:
        identity["arguments"] = dict(sorted(source.arguments.items()))
    return identity


def list_frames(folder: Path) -> list[Path]:
    """The image files of ``folder`` in natural name order (frame2 before frame10), hidden ones skipped."""
    if not folder.exists():
        raise InputError(f"input {folder} does not exist")
    if not folder.is_dir():
        raise InputError(f"input {folder} is not a folder")
    paths = image_files(folder)
    if not paths:
        raise InputError(f"input folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    for path in paths:  # a frame that cannot be read would shift every later frame by one
        problem = unreadable(path)
        if problem is not None:
            raise InputError(f"{problem}; every file named like a frame is read: repair or remove it")
    by_stem: dict[str, Path] = {}
    for path in paths:
        other = by_stem.setdefault(path.stem, path)
        if other is not path:
            raise InputError(
                f"{other} and {path} have the same name {path.stem!r}; their output frames would overwrite "
                "each other: rename or remove one"
            )
    return paths


def open_folder(folder: Path, fps: Fraction) -> Source:
    """A folder of frames as a clip (see the module doc); its frames are read from where it is now."""
    folder = folder.absolute()
    paths = list_frames(folder)
    try:
        first = read_image(paths[0])
    except ImageError as exc:
        raise InputError(str(exc)) from exc
    size, colour = (first.shape[1], first.shape[0]), first.ndim == 3
    for path in paths[1:]:
        try:
            other_size, other_colour = read_header(path)
        except ImageError as exc:
            raise InputError(str(exc)) from exc
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
    errors = FrameErrors()
    clip = array_clip(lambda n: read_image(paths[n]), len(paths), first, fps, lambda n: str(paths[n]), errors)
    return Source(
        clip=clip, names=[p.stem for p in paths], bits=8 * first.itemsize, suffix=paths[0].suffix.lower(),
        description=f"{len(paths)} {image_kind(first)} frames {size[0]}x{size[1]} from {folder}",
        files=tuple(paths), errors=errors,
    )


SCRIPT_SUFFIXES = (".vpy",)


def _output_bits(clip: vs.VideoNode, what: str) -> int:
    """The depth the clip's colours are written at: its own for 8-16 bit integer samples, 16 for float.

    The clip must have one constant format and size.
    """
    fmt = clip.format
    if fmt is None or fmt.id == vs.NONE or clip.width == 0:
        raise InputError(f"{what} changes format or size mid-stream; convert it to one first")
    if fmt.sample_type == vs.FLOAT:
        return 16
    if fmt.bits_per_sample > 16:
        raise InputError(f"{what} has {fmt.name} samples; dvcp reads 8 to 16-bit integer or float video")
    return int(fmt.bits_per_sample)


def _numbered(count: int) -> list[str]:
    digits = max(6, len(str(count - 1)))
    return [f"{n:0{digits}d}" for n in range(count)]


def open_video(path: Path) -> Source:
    """A video file as a clip, through vapoursynth-bestsource."""
    path = path.absolute()
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
        raise InputError(f"cannot read the video {path}: {str(exc).strip()}") from exc
    return Source(
        clip=clip, names=_numbered(clip.num_frames), bits=_output_bits(clip, f"the video {path}"),
        suffix=None, description=f"{clip.num_frames} frames {clip.width}x{clip.height} {clip.format.name} from {path}",
        files=(path,),
    )


@contextmanager
def _working_folder(folder: Path) -> Iterator[None]:
    """Run the block in ``folder``, then go back to the folder it started in."""
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def open_script(path: Path, arguments: Mapping[str, str] | None = None) -> Source:
    """A VapourSynth script's output 0 as a clip; the script runs here as vspipe would run it.

    As under vspipe, it runs in its own folder (its relative paths are relative to it), as
    ``__vapoursynth__``, with its ``__file__`` and each of ``arguments`` as a global holding text.
    """
    path = path.absolute()
    if not path.is_file():
        raise InputError(f"input {path} does not exist")
    vs.clear_outputs()
    try:
        with _working_folder(path.parent):
            runpy.run_path(str(path), init_globals=dict(arguments or {}), run_name="__vapoursynth__")
    except Exception as exc:  # whatever the user's script raises
        text = str(exc).strip() or type(exc).__name__
        raise InputError(f"the script {path} failed: {text}") from exc
    output = vs.get_outputs().get(0)
    if not isinstance(output, vs.VideoOutputTuple):
        raise InputError(f"the script {path} sets no video output 0; end it with clip.set_output()")
    clip = output.clip
    bits = _output_bits(clip, f"the output of {path}")
    return Source(
        clip=clip, names=_numbered(clip.num_frames), bits=bits, suffix=None,
        description=f"{clip.num_frames} frames {clip.width}x{clip.height} {clip.format.name} from the script {path}",
        files=(path,), arguments=dict(arguments) if arguments else None, cuts=True,
    )


def open_input(path: Path, fps: Fraction, arguments: Mapping[str, str] | None = None) -> Source:
    """A folder of frames (at ``fps``), a video file or a ``.vpy`` script (at their own rate, the script
    given ``arguments``) as a :class:`Source`."""
    if arguments and path.suffix.lower() not in SCRIPT_SUFFIXES:
        raise InputError(f"arguments are for a script (.vpy); the input {path} is not one")
    if path.is_dir() or not path.exists():
        return open_folder(path, fps)
    if path.suffix.lower() in SCRIPT_SUFFIXES:
        return open_script(path, arguments)
    return open_video(path)
