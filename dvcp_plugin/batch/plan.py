"""From the shots of a jobs file to the parts the workers colour.

A shot without ``cuts`` is one part. A shot with ``cuts`` (a reel) is split at each cut into parts
that take the keyframes inside their frames (renumbered from their first frame); they are coloured
in a staging area beside the output and reassembled in order into it (:mod:`.reels`). What can be
checked before any work starts is checked here: ranges and cuts against the input's length, and a
keyframe for every part of a reel.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import DvcpError
from ..media.frame_writer import check_video_size, ffmpeg_arguments, ffmpeg_executable
from ..media.outputs import is_video
from ..media.sources import InputError, open_input
from ..media.video_check import video_problem
from .jobs import JobsError, ShotJob, in_jobs_words
from .reels import part_output, stale_spans
from .work import Part, Reel


@dataclass(frozen=True)
class PlannedShot:
    """A shot of the jobs file and its parts; ``status`` is set when it is settled before any work."""

    job: ShotJob
    parts: tuple[Part, ...] = ()
    reel: Reel | None = None
    status: str | None = None  # "skipped" or "failed" when no part is to be coloured
    error: str | None = None


def plan_shots(jobs: list[ShotJob], overwrite: bool = False, other_build: bool = False) -> list[PlannedShot]:
    """The plan of every shot; a :class:`JobsError` names a shot whose frames, cuts or keyframes do not fit.

    Inputs are opened only for shots with ``frames`` or ``cuts`` (to know their length); a shot
    whose input cannot be opened is planned as failed, and the others still run.
    """
    return [_plan(job, overwrite, other_build) for job in jobs]


def _plan(job: ShotJob, overwrite: bool, other_build: bool) -> PlannedShot:
    if job.frames is None and not job.cuts:
        return PlannedShot(job, (_part(job, other_build, None, job.keyframes, job.output, job.name),))
    try:
        source = open_input(job.input, job.output_options.fps)
    except InputError as exc:
        return PlannedShot(job, status="failed", error=str(exc))
    count = len(source.names)
    if job.cuts and is_video(job.output):  # the reel's video is written after every part is coloured: check now
        try:
            check_video_size(job.output, ffmpeg_arguments(job.output, job.output_options.ffmpeg_args),
                             source.clip.width, source.clip.height)
        except DvcpError as exc:
            raise JobsError(f"{job.label}: {in_jobs_words(str(exc))}") from None
    first, last = job.frames if job.frames is not None else (0, count - 1)
    if last >= count:
        raise JobsError(f"{job.label}: frames [{first}, {last}] go past the input's last frame, {count - 1}")
    if job.cuts and job.cuts[-1] > last:
        raise JobsError(f"{job.label}: cut {job.cuts[-1]} is past the input's last frame, {last}")
    outside = [n for n in job.keyframes if not first <= n <= last]
    if outside:
        raise JobsError(f"{job.label}: keyframe {outside[0]} is outside the frames coloured, {first} to {last}")
    if not job.cuts:
        keyframes = {n - first: image for n, image in job.keyframes.items()}
        return PlannedShot(job, (_part(job, other_build, (first, last), keyframes, job.output, job.name),))
    starts, ends = (first, *job.cuts), (*(cut - 1 for cut in job.cuts), last)
    parts = []
    for start, end in zip(starts, ends, strict=True):
        keyframes = {n - start: image for n, image in job.keyframes.items() if start <= n <= end}
        if not keyframes:
            raise JobsError(f"{job.label}: the shot of frames {start} to {end} (between its cuts) has no keyframe")
        output = part_output(job.output, start, end)
        name = f"{job.name} [{start}-{end}]"
        parts.append(_part(job, other_build, (start, end), keyframes, output, name, reel=True))
    reel = Reel(job.output, tuple(parts), job.output_options.ffmpeg_args)
    if overwrite:
        return PlannedShot(job, reel.parts, reel)
    if is_video(job.output) and job.output.exists():
        if video_problem(job.output, last - first + 1, ffmpeg_executable()) is None:
            return PlannedShot(job, reel=reel, status="skipped")
        return PlannedShot(job, reel.parts, reel)  # not whole: made again from its parts
    stale = stale_spans(job.output, [part.span for part in parts])
    if stale:
        return PlannedShot(job, reel=reel, status="failed", error=(
            f"{job.output} holds frames of other cuts (frames {', '.join(stale)}); "
            "use --overwrite to replace them, or another folder"
        ))
    return PlannedShot(job, reel.parts, reel)


def _part(
    job: ShotJob, other_build: bool, frames: tuple[int, int] | None, keyframes: dict[int, Path], output: Path,
    name: str, reel: bool = False,
) -> Part:
    """A part of ``job``; parts of a reel are written as lossless staging files and know their reel."""
    output_options = replace(job.output_options, ffmpeg_args=None) if reel else job.output_options
    return Part(
        name=name, input=job.input, frames=frames, keyframes=keyframes, output=output, options=job.options,
        output_options=output_options, reel=job.output if reel else None, other_build=other_build,
    )
