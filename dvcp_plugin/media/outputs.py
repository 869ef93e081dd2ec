"""Where a coloured input goes: a frame folder or a video file, chosen by the output path.

Frame folders are written at the input's bit depth (8-bit in, 8-bit RGB out; 16-bit or deeper
video in, 16-bit RGB out), one file per input frame under the input's names. Video files are
written by ffmpeg from YUV 4:4:4 at the input's depth. One run at a time writes an output
(:func:`lock_output`, :mod:`.output_lock`).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import vapoursynth as vs

from ..filters.images import IMAGE_SUFFIXES
from ..options import OutputOptions
from .frame_writer import VIDEO_SUFFIXES, FrameFolder, VideoFile, check_video_size, ffmpeg_arguments
from .output_lock import OutputLock
from .paths import OutputError, check_writable_file, check_writable_folder
from .sources import Source


def is_video(output: Path) -> bool:
    """Whether ``output`` names a video file (else it is a folder of frames)."""
    return output.suffix.lower() in VIDEO_SUFFIXES


def check_output(input_path: Path, output: Path) -> None:
    """Refuse an output that names an image, is a file where a folder is needed, or is the input."""
    video = is_video(output)
    if not video and output.suffix.lower() in IMAGE_SUFFIXES:
        raise OutputError(f"the output {output} names an image; give a folder for frames or a video file")
    if not video and output.exists() and not output.is_dir():
        raise OutputError(f"the output {output} exists and is not a folder")
    if input_path.exists() and output.resolve() == input_path.resolve():
        raise OutputError("the output folder is the input folder; choose another one so no frame is overwritten")


def lock_output(output: Path) -> OutputLock:
    """The lock that makes ``output`` this run's alone (enter it), once ``output`` is known to be writable.

    The writable check comes first so that its message names the output, not the lock file beside it.
    """
    what = "the output video" if is_video(output) else "the output folder"
    (check_writable_file if is_video(output) else check_writable_folder)(output, what)
    return OutputLock(output, what)


def output_suffix(source: Source, requested: str | None) -> str:
    """The output frames' suffix: ``requested``, else the input's (JPEG and video give PNG)."""
    if requested is not None:
        if requested == ".jpg" and source.bits > 8:
            raise OutputError(f"JPEG holds 8-bit samples only; the input is {source.bits}-bit; use .png or .tif")
        return requested
    if source.suffix in (".png", ".tif", ".tiff"):
        return source.suffix
    return ".png"


def folder_format(source: Source) -> int:
    """RGB at the input's depth: RGB24 for 8-bit input, RGB48 for deeper."""
    return vs.RGB24 if source.bits == 8 else vs.RGB48


def video_format(source: Source) -> int:
    """YUV 4:4:4 at the input's depth (the luma is the input's, bit-exact)."""
    return vs.core.query_video_format(vs.YUV, vs.INTEGER, source.bits, 0, 0).id


def clip_fps(clip: vs.VideoNode) -> Fraction:
    """The clip's frame rate, 24 when it has none."""
    return Fraction(clip.fps) if clip.fps > 0 else Fraction(24)


def output_sink(source: Source, output: Path, options: OutputOptions) -> FrameFolder | VideoFile:
    """Where ``source`` is coloured to: a video file, or a frame folder (its suffix as in :func:`output_suffix`).

    A frame size the video's pixel format cannot hold is an :class:`OutputError` now, before any work.
    """
    if is_video(output):
        check_video_size(output, ffmpeg_arguments(output, options.ffmpeg_args), source.clip.width, source.clip.height)
        return VideoFile(output, clip_fps(source.clip), options.ffmpeg_args)
    return FrameFolder(output, source.names, output_suffix(source, options.suffix))
