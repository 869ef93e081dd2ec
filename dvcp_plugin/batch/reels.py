"""Reels split by cuts: where their parts are coloured, and how the parts become one output again.

Each part of a reel is coloured into a staging area, exactly as ``dvcp colorize`` writes it, so it
resumes like any shot: ``OUTPUT/.dvcp-parts/FIRST-LAST/`` for a reel written as a frame folder,
``.NAME.dvcp-parts/FIRST-LAST.mkv`` (lossless FFV1) beside a reel written as a video. When every
part is coloured the reel is reassembled, in order:

- frame folder: each part's frames are moved into the reel's folder (one rename each) and the part
  is recorded in the folder's ``.dvcp-reel.json`` with what its own frame folder recorded: the
  settings that made it and each frame's size and SHA-256. A rerun skips a recorded part whose
  frames all still match their records, colours again one that does not, and refuses one recorded
  with other settings (or a recorded part the cuts no longer make) unless told to overwrite.
- video: the parts are read back and written one after another into the reel's file as ``dvcp
  colorize`` writes a video; a rerun skips a reel whose file reads back whole, and makes again one
  that does not (see :mod:`dvcp_plugin.media.video_check`).

The staging area is removed once the reel is whole. A run that is stopped leaves in it only what
the next run resumes from: :func:`tidy_staging` removes what killed workers left unfinished.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import vapoursynth as vs

from ..media.frame_writer import VideoFile, write_video
from ..media.frames import image_files
from ..media.manifest import PARTIAL, FrameRecord, RunRecord, settings_changes, write_atomically
from ..media.outputs import clip_fps, is_video
from ..media.paths import OutputError
from ..media.sources import open_video
from ..media.video_check import video_problem
from .work import Part, Reel, Result, failed

LEDGER = ".dvcp-reel.json"
STAGING = ".dvcp-parts"


def staging(reel_output: Path) -> Path:
    """The folder where the parts of the reel written to ``reel_output`` are coloured."""
    if is_video(reel_output):
        return reel_output.with_name(f".{reel_output.name}{STAGING}")
    return reel_output / STAGING


def part_output(reel_output: Path, first: int, last: int) -> Path:
    """Where the part of frames ``first`` to ``last`` of a reel is coloured before reassembly."""
    span = f"{first:06d}-{last:06d}"
    return staging(reel_output) / (f"{span}.mkv" if is_video(reel_output) else span)


def tidy_staging(reel_output: Path) -> None:
    """After a stopped run: remove the unfinished files its killed workers left in the reel's staging
    area (``*.partial*``), the parts that hold no frame, and the staging area when nothing is left in it.

    Finished part files and frames stay: the next run resumes from them.
    """
    area = staging(reel_output)
    if not area.is_dir():
        return
    for path in sorted(area.rglob(f"*{PARTIAL}*")):
        if path.is_file():
            path.unlink(missing_ok=True)
    for part in area.iterdir():
        if part.is_dir() and not image_files(part):
            shutil.rmtree(part, ignore_errors=True)
    try:
        area.rmdir()
    except OSError:
        pass  # it holds finished parts


def read_ledger(reel_output: Path) -> dict[str, Any]:
    """The parts recorded in a reel folder by span, ``{"FIRST-LAST": {"settings", "frames"}}`` (empty if none)."""
    try:
        data = json.loads((reel_output / LEDGER).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_ledger(reel_output: Path, ledger: Mapping[str, Any]) -> None:
    write_atomically(reel_output / LEDGER, json.dumps(dict(ledger), indent=2, sort_keys=True) + "\n")


def _frame_records(entry: Mapping[str, Any]) -> dict[str, FrameRecord]:
    """A ledger entry's frame records by file name (none when they cannot be read)."""
    try:
        return {record.name: record for record in (FrameRecord(**frame) for frame in entry["frames"])}
    except (KeyError, TypeError):
        return {}


def stale_spans(reel_output: Path, spans: Sequence[str]) -> list[str]:
    """Parts recorded in a reel folder that the current cuts do not make."""
    if is_video(reel_output):
        return []
    return sorted(set(read_ledger(reel_output)) - set(spans))


def recorded_part(part: Part, settings: Mapping[str, Any], names: Sequence[str], suffix: str) -> bool:
    """Whether ``part``'s frames are all in its reel's folder as recorded there, made with ``settings``.

    A part whose keyframes alone changed is not (it is coloured again and replaces its frames); one
    recorded with other settings is an :class:`OutputError` naming what changed, and so is one made
    by another dvcp version or on another device, unless the part keeps those.
    """
    assert part.reel is not None
    entry = read_ledger(part.reel).get(part.span)
    if not isinstance(entry, dict):
        return False
    where = f"{part.reel} holds frames {part.span}"
    keys, changes = settings_changes(entry.get("settings") or {}, settings, part.other_build, where)
    if keys == ["keyframes"]:
        return False
    if changes:
        raise OutputError(
            f"{part.reel} holds frames {part.span} made with other settings ({'; '.join(changes)}); "
            "use --overwrite to replace them, or another folder"
        )
    records = _frame_records(entry)
    for name in names:
        record = records.get(f"{name}{suffix}")
        if record is None or not record.matches(part.reel / record.name):
            return False
    return True


def assemble(reel: Reel, overwrite: bool = False) -> Result:
    """Put the coloured parts of ``reel`` together, in order, into its output (see the module doc).

    Errors are reported in the result, whose ``written`` counts the frames moved or written.
    """
    started = time.monotonic()
    name = f"{reel.output.name} (reassembly)"
    try:
        if is_video(reel.output):
            written = _assemble_video(reel, overwrite)
        else:
            written = _assemble_folder(reel, overwrite)
    except Exception as exc:  # noqa: BLE001 - any error is this reel's failure, reported with it
        return failed(name, exc, seconds=time.monotonic() - started)
    shutil.rmtree(staging(reel.output), ignore_errors=True)
    return Result(name, "done", written, written, seconds=time.monotonic() - started)


def _assemble_folder(reel: Reel, overwrite: bool) -> int:
    ledger = read_ledger(reel.output)
    if overwrite:
        ledger = {span: made for span, made in ledger.items() if span in {p.span for p in reel.parts}}
    moved = 0
    for part in reel.parts:
        if not part.output.is_dir():
            continue  # recorded by an earlier run
        record = RunRecord(part.output)
        frames = [asdict(frame) for _, frame in sorted(record.recorded_frames().items())]
        ledger[part.span] = {"settings": record.recorded_settings(), "frames": frames}
        for frame in image_files(part.output):
            os.replace(frame, reel.output / frame.name)
            moved += 1
        _write_ledger(reel.output, ledger)
        shutil.rmtree(part.output)
    return moved


def _assemble_video(reel: Reel, overwrite: bool) -> int:
    clip = vs.core.std.Splice([open_video(part.output).clip for part in reel.parts])
    video = VideoFile(reel.output, clip_fps(clip), reel.ffmpeg_args)
    if reel.output.exists() and not overwrite:  # an earlier run's file that is not whole is replaced
        overwrite = video_problem(reel.output, clip.num_frames, video.ffmpeg) is not None
    return write_video(clip, video, overwrite)
