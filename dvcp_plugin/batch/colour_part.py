"""Colouring one part on a worker, exactly as ``dvcp colorize`` colours a shot."""

from __future__ import annotations

import time

from ..media.frame_writer import FrameFolder
from ..media.outputs import is_video, output_sink
from ..media.render import Progress
from ..media.sources import open_input
from ..service import colorize_into, run_settings
from .reels import read_ledger, recorded_part
from .work import Part, Result, failed


def colour_part(part: Part, overwrite: bool = False, progress: Progress | None = None) -> Result:
    """Colour ``part`` into its output as ``dvcp colorize`` does, resuming or skipping finished work.

    A frame folder keeps the frames of an earlier run that still match its record; an existing
    video, or a reel part already in its reel, is skipped (unless ``overwrite``). Any error is
    reported in the result, not raised, so one bad shot does not stop the others: a ``DvcpError`` by
    its message, anything else (a bug) as an internal error; both keep their traceback, which is
    also logged. ``progress`` is called with each frame written.
    """
    started = time.monotonic()
    frames = 0
    try:
        source = open_input(part.input, part.output_options.fps)
        if part.frames is not None:
            source = source.frames(*part.frames)
        frames = len(source.names)
        if is_video(part.output) and part.output.exists() and not overwrite:
            return Result(part.name, "skipped", frames, kept=frames, seconds=time.monotonic() - started)
        sink = output_sink(source, part.output, part.output_options)
        if isinstance(sink, FrameFolder) and part.reel is not None and not overwrite:
            if part.span in read_ledger(part.reel):  # coloured and moved into its reel by an earlier run
                settings = run_settings(source, part.keyframes, part.options)
                if recorded_part(part, settings, source.names, sink.suffix):
                    return Result(part.name, "skipped", frames, kept=frames, seconds=time.monotonic() - started)
        resume = colorize_into(source, part.keyframes, sink, part.options, overwrite=overwrite, progress=progress)
    except Exception as exc:  # noqa: BLE001 - any error is this shot's failure, reported with it
        return failed(part.name, exc, frames, time.monotonic() - started)
    written = len(resume.todo)
    status = "done" if written else "skipped"
    return Result(part.name, status, frames, written, resume.kept, time.monotonic() - started)

