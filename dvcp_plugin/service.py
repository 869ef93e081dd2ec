"""The colouring service: an input coloured into a frame folder or a video file, as ``dvcp colorize``
and ``dvcp batch`` both do it, so that a shot's output is the same whichever command wrote it.

A frame folder resumes under its record: frames already written and still matching it are kept,
and only when the input, keyframes, weights and options that decide the pixels are those that made
them (:func:`run_settings`; see :mod:`dvcp_plugin.media.frame_writer`). A video file is written
whole.

Mistakes the user can fix are ``DvcpError`` exceptions, raised as they are made: bad keyframes or
options, an output that cannot be written, a frame that cannot be made. For a frame, VapourSynth
hands back only the text of what failed; the service takes the exception itself from the frame
errors of its input and of its pipeline (:class:`~dvcp_plugin.filters.frame_errors.FrameErrors`)
and raises that: a ``DvcpError`` the user can fix ("frame 5: ..."), or a bug with its own
traceback. A failure of something else (a video decoder, a filter of the user's script) is a
:class:`~dvcp_plugin.media.render.RenderError` in VapourSynth's words.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any, NoReturn

import vapoursynth as vs

from .errors import DvcpError
from .filters.files import file_digest
from .filters.frame_errors import FrameErrors
from .media.frame_writer import FrameFolder, Resume, VideoFile, write_frames, write_video
from .media.outputs import folder_format, video_format
from .media.render import Progress, RenderError
from .media.sources import InputError, Source, input_identity
from .options import Options
from .runtime.devices import device_name
from .runtime.pipeline import Pipeline, shared_pipeline
from .runtime.shot_list import Shot, list_shots, scene_changes, split_shots


def run_settings(source: Source, keys: Mapping[int, Path], options: Options) -> dict[str, Any]:
    """What decides the output's pixels, recorded in a frame folder to make resuming safe.

    The input and the keyframe images are identified by their content, so a changed input frame
    is noticed whatever its time stamp, and a moved or copied input is still the same input. The
    dvcp version and the device are recorded too: another of either may round a few samples
    differently (see :data:`~dvcp_plugin.media.manifest.BUILD`).
    """
    clip = source.clip
    return {
        "input": input_identity(source),
        "frames": clip.num_frames,
        "size": f"{clip.width}x{clip.height}",
        "keyframes": {str(n): file_digest(path) for n, path in sorted(keys.items())},
        **options.record(),
        "dvcp": version("dvcp-plugin"),
        "device": device_name(options.device),
    } | ({"first_frame": source.first} if source.first else {})


def rekeyed_frames(
    source: Source, unkeyed_cuts: str, recorded: Mapping[str, Any], current: Mapping[str, Any]
) -> set[int]:
    """The frames of ``source`` whose shot's keyframes differ between two runs' keyframes ``{frame: digest}``.

    A frame is coloured from the keyframes of its shot alone, so only the frames of a shot whose
    extent or keyframes changed need making again. The shots are those colouring sees (by
    ``unkeyed_cuts``); a script's scene changes are read to find them, other inputs have none.
    """
    clip = source.clip
    cuts = scene_changes(clip, vs.core.num_threads) if source.cuts else []
    shots = {
        name: split_shots(clip.num_frames, cuts, (int(n) for n in keys), None, unkeyed_cuts)
        for name, keys in (("recorded", recorded), ("current", current))
    }

    def signature(shot: Shot, keys: Mapping[str, Any]) -> tuple[Any, ...]:
        return shot.first, shot.last, tuple((n, keys[str(n)]) for n in shot.keyframes)

    before = {n: shot for shot in shots["recorded"] for n in range(shot.first, shot.last + 1)}
    return {
        n for shot in shots["current"] for n in range(shot.first, shot.last + 1)
        if signature(before[n], recorded) != signature(shot, current)
    }


class Colouring:
    """``source`` coloured from the keyframe images ``keys`` (by frame) with ``options``.

    Its nodes share one pipeline, which lives as long as this does: a frame written to a folder and
    then to a video is computed once (while the state cache holds it).
    """

    def __init__(self, source: Source, keys: Mapping[int, Path], options: Options) -> None:
        self.source, self.keys, self.options = source, dict(keys), options
        self._pipeline: Pipeline | None = None

    def node(self, fmt: int) -> vs.VideoNode:
        """The coloured clip in format ``fmt``; bad keyframes or options are a ``DvcpError``.

        Float input has no integer YUV of its own depth: it is coloured in float (YUV444PS) and
        written as ``fmt``, its luma rounded to ``fmt``'s samples.
        """
        clip = self.source.clip
        if self._pipeline is None:
            keyframes = {n: str(path) for n, path in self.keys.items()}
            self._pipeline = shared_pipeline(clip, keyframes, None, self.options)
        out = vs.core.get_video_format(fmt)
        if clip.format.sample_type == vs.FLOAT and out.color_family == vs.YUV and out.sample_type == vs.INTEGER:
            coloured = self._pipeline.node("final", vs.core.get_video_format(vs.YUV444PS), "colorize")
            return vs.core.resize.Point(coloured, format=out.id)
        return self._pipeline.node("final", out, "colorize")

    def settings(self) -> dict[str, Any]:
        """What decides the output's pixels (see :func:`run_settings`)."""
        return run_settings(self.source, self.keys, self.options)

    def write(
        self, sink: FrameFolder | VideoFile, *, overwrite: bool = False, description: str | None = None,
        progress: Progress | None = None, other_build: bool = False,
    ) -> Resume:
        """Colour into ``sink``; the frames written and kept.

        A frame folder resumes under its record: when only the keyframes changed, the frames of the
        shots whose keyframes changed are made again (:func:`rekeyed_frames`); frames made by another
        dvcp version or on another device are refused unless ``other_build``. A video file is
        written whole, every frame listed as to do. ``description`` labels a progress bar on
        stderr; ``progress`` is told of each frame written.
        """
        try:
            if isinstance(sink, VideoFile):
                node = self.node(video_format(self.source))
                write_video(node, sink, overwrite, description=description, progress=progress)
                return Resume(todo=list(range(node.num_frames)))
            node = self.node(folder_format(self.source))
            return write_frames(
                node, sink, self.settings(), overwrite, description=description, progress=progress,
                rekeyed=partial(rekeyed_frames, self.source, self.options.unkeyed_cuts), other_build=other_build,
            )
        except RenderError as exc:
            raise_frame_failure(exc, self.source.errors, self._pipeline.errors if self._pipeline else None)


def colorize_into(
    source: Source, keys: Mapping[int, Path], sink: FrameFolder | VideoFile, options: Options, *,
    overwrite: bool = False, description: str | None = None, progress: Progress | None = None,
    other_build: bool = False,
) -> Resume:
    """Colour ``source`` into ``sink`` as ``dvcp colorize`` does (see :meth:`Colouring.write`)."""
    return Colouring(source, keys, options).write(
        sink, overwrite=overwrite, description=description, progress=progress, other_build=other_build
    )


def raise_frame_failure(exc: RenderError, source: FrameErrors | None, pipeline: FrameErrors | None) -> NoReturn:
    """Raise what made a frame fail: the first error the input's frame reading kept (the pipeline reads
    the input, so it comes first), else the first one the pipeline's frame requests kept, else ``exc``.

    A ``DvcpError`` of the pipeline is raised as a :class:`RenderError` naming its frame; any other
    exception (a bug) is raised itself, with its own traceback.
    """
    kept = source.take() if source is not None else None
    if kept is not None:
        raise kept[1] from None
    kept = pipeline.take() if pipeline is not None else None
    if kept is None:
        raise exc
    n, error = kept
    if isinstance(error, DvcpError):
        raise RenderError(n, error) from error
    raise error from None


def input_shots(source: Source, keys: Mapping[int, Any] | None, unkeyed_cuts: str) -> list[Shot]:
    """The shots of ``source`` and the keyframes each holds (only ``keys``' frame numbers are used)."""
    try:
        return list_shots(source.clip, dict(keys) if keys else None, None, unkeyed_cuts)
    except vs.Error as exc:
        kept = source.errors.take() if source.errors is not None else None
        if kept is not None:
            raise kept[1] from None
        raise InputError(f"cannot read the frames of {source.description}: {str(exc).strip()}") from exc
