"""Colouring one part on a worker, exactly as ``dvcp colorize`` colours a shot."""

from __future__ import annotations

import time

from ..errors import DvcpError
from ..media.frame_writer import FrameFolder, VideoFile, ffmpeg_executable
from ..media.outputs import is_video, output_sink
from ..media.render import Progress
from ..media.sources import Source, open_input
from ..media.video_check import video_problem
from ..service import colorize_into, run_settings
from .reels import read_ledger, recorded_part
from .work import Part, Result, failed


def colour_part(part: Part, overwrite: bool = False, progress: Progress | None = None) -> Result:
    """Colour ``part`` into its output as ``dvcp colorize`` does, resuming or skipping finished work.

    A frame folder keeps the frames of an earlier run that still match its record; an existing
    video that reads back whole, or a reel part already in its reel, is skipped (unless
    ``overwrite``), and a video that does not (cut short by a full disk) is written again. Any error
    is reported in the result, not raised, so one bad shot does not stop the others: a
    ``DvcpError`` by its message, anything else (a bug) as an internal error; both keep their
    traceback, which is also logged. A failed frame folder's result still counts the frames this
    run wrote and those a rerun keeps. ``progress`` is called with each frame written.
    """
    started = time.monotonic()
    frames = 0
    written: list[int] = []  # frames this run wrote, failed or not

    def count(n: int) -> None:
        written.append(n)
        if progress is not None:
            progress(n)

    sink: FrameFolder | VideoFile | None = None
    try:
        source = open_input(part.input, part.output_options.fps)
        if part.frames is not None:
            source = source.frames(*part.frames)
        frames = len(source.names)
        replace = overwrite
        if is_video(part.output) and part.output.exists() and not overwrite:
            if video_problem(part.output, frames, ffmpeg_executable()) is None:
                return Result(part.name, "skipped", frames, kept=frames, seconds=time.monotonic() - started)
            replace = True  # not whole: an earlier run's file cut short
        sink = output_sink(source, part.output, part.output_options)
        if isinstance(sink, FrameFolder) and part.reel is not None and not overwrite:
            if part.span in read_ledger(part.reel):  # coloured and moved into its reel by an earlier run
                settings = run_settings(source, part.keyframes, part.options)
                if recorded_part(part, settings, source.names, sink.suffix):
                    return Result(part.name, "skipped", frames, kept=frames, seconds=time.monotonic() - started)
        resume = colorize_into(
            source, part.keyframes, sink, part.options, overwrite=replace, progress=count, other_build=part.other_build
        )
    except Exception as exc:  # noqa: BLE001 - any error is this shot's failure, reported with it
        if not isinstance(sink, FrameFolder):  # a video that failed is removed whole
            return failed(part.name, exc, frames, time.monotonic() - started)
        kept = max(0, _in_place(part, source, sink) - len(written))
        return failed(part.name, exc, frames, time.monotonic() - started, written=len(written), kept=kept)
    status = "done" if resume.todo else "skipped"
    return Result(part.name, status, frames, len(resume.todo), resume.kept, time.monotonic() - started)


def _in_place(part: Part, source: Source, folder: FrameFolder) -> int:
    """The frames of ``folder`` that a rerun of ``part`` keeps: recorded for its settings, and unchanged."""
    try:
        if folder.record.recorded_settings() != run_settings(source, part.keyframes, part.options):
            return 0
    except (DvcpError, OSError):
        return 0
    records = folder.record.recorded_frames()
    return sum(
        1 for n in range(len(folder.names))
        if (record := records.get(folder.path(n).name)) is not None and record.matches(folder.path(n))
    )
