"""Writing colourised frames: an image folder that resumes, or a video file through ffmpeg.

Frame folders: each frame is encoded, written whole to a hidden temporary name
(``.NAME.partial.png``), synced and renamed, so a file with a frame's name is always a finished
frame; then its size and checksum are recorded (see :mod:`dvcp_plugin.media.manifest`). A rerun
keeps the frames that still match their record and writes the others. The recorded settings (the
input's content, keyframe images, weights, options) must match the rerun's, so frames of two
different runs or inputs are never mixed, unless told to overwrite.

Video files: YUV4MPEG frames are piped to ``ffmpeg``, which writes ``NAME.partial.SUFFIX``; the file
is synced, read back (:mod:`dvcp_plugin.media.video_check`) and renamed to its final name only when
it decodes to every frame written.

:func:`write_frames` and :func:`write_video` render a node into either, with the checks above.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import vapoursynth as vs

from ..filters.files import write_all
from ..filters.images import ImageError, encode_image
from .manifest import PARTIAL, FrameRecord, RunRecord, settings_changes
from .paths import OutputError, check_writable_file, check_writable_folder
from .render import Progress, render
from .video_check import sync_file, video_problem

VIDEO_SUFFIXES = (".mkv", ".mp4", ".mov", ".avi", ".webm", ".nut", ".y4m")
# ffmpeg options per container when the user gives none: lossless FFV1 in Matroska keeps every
# sample; MP4/MOV get H.264 4:2:0 that any player shows
DEFAULT_FFMPEG_ARGS: dict[str, list[str]] = {
    ".mkv": ["-c:v", "ffv1", "-level", "3"],
    ".mp4": ["-pix_fmt", "yuv420p", "-crf", "16"],
    ".mov": ["-pix_fmt", "yuv420p", "-crf", "16"],
}


def ffmpeg_arguments(path: Path, ffmpeg_args: str | None) -> list[str]:
    """ffmpeg's output options for the video ``path``: ``ffmpeg_args`` split as a shell would, else the
    container's defaults (:data:`DEFAULT_FFMPEG_ARGS`)."""
    if ffmpeg_args is not None:
        return shlex.split(ffmpeg_args)
    return list(DEFAULT_FFMPEG_ARGS.get(path.suffix.lower(), []))


def _subsampling(pixel_format: str) -> tuple[int, int]:
    """How many columns and rows share a chroma sample in an ffmpeg pixel format (1, 1 for 4:4:4)."""
    for names, factors in (
        (("420", "nv12", "nv21", "p010", "p016"), (2, 2)), (("422", "nv16", "nv20", "p210", "p216"), (2, 1)),
        (("411",), (4, 1)), (("410",), (4, 4)), (("440",), (1, 2)),
    ):
        if any(name in pixel_format for name in names):
            return factors
    return 1, 1


def check_video_size(path: Path, args: Sequence[str], width: int, height: int) -> None:
    """Refuse now frames the pixel format ``args`` write ``path`` in cannot hold (odd sizes for 4:2:0)."""
    formats = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "-pix_fmt"]
    if not formats:
        return
    across, down = _subsampling(formats[-1])
    if width % across == 0 and height % down == 0:
        return
    raise OutputError(
        f"the frames are {width}x{height}, and {path.name} is written as {formats[-1]}, whose chroma needs a width "
        f"divisible by {across} and a height by {down}: write .mkv (lossless 4:4:4) instead, or choose a "
        "4:4:4 pixel format, e.g. ffmpeg_args='-pix_fmt yuv444p -crf 16'"
    )


def frame_array(frame: vs.VideoFrame) -> np.ndarray:
    """An RGB24/RGB48 frame as a uint8/uint16 (H,W,3) array."""
    return np.stack([np.asarray(frame[i]) for i in range(3)], axis=-1)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


@dataclass
class Resume:
    """What a frame folder holds before a run: the frames to write, and those kept or written again."""

    todo: list[int]
    kept: int = 0
    redone: list[str] = field(default_factory=list)  # frame files that did not match their record
    restarted: str | None = None  # how the settings of an unfinished earlier run, made again, differed
    rekeyed: int = 0  # frames made again because the keyframes of their shot changed


# (recorded keyframes, this run's keyframes), each {frame: image digest} -> the frames whose shot's keyframes differ
Rekeyed = Callable[[Mapping[str, Any], Mapping[str, Any]], set[int]]


class FrameFolder:
    """A folder receiving frames ``names[n] + suffix``; see the module doc for resuming."""

    def __init__(self, folder: Path, names: Sequence[str], suffix: str) -> None:
        self.folder, self.names, self.suffix = folder, list(names), suffix
        self.record = RunRecord(folder)

    def path(self, n: int) -> Path:
        """Where frame ``n`` is written."""
        return self.folder / f"{self.names[n]}{self.suffix}"

    def _temporary(self, n: int) -> Path:
        return self.folder / f".{self.names[n]}{PARTIAL}{self.suffix}"

    def check(self) -> None:
        """Fail now, before any work, when the folder cannot be written."""
        check_writable_folder(self.folder, "the output folder")

    def prepare(
        self, settings: Mapping[str, Any], overwrite: bool, *, rekeyed: Rekeyed | None = None,
        other_build: bool = False,
    ) -> Resume:
        """Create the folder, check the earlier run's record against ``settings``, record this run.

        Frames that still match their record are kept; missing, unrecorded or changed ones are
        deleted and listed to be written. With ``overwrite`` every frame of these names is
        written again, and so is every frame of an earlier run that did not finish (it failed or
        was stopped: fewer frames recorded than it had) when its settings differ, e.g. an input
        frame that stopped it has been repaired since; a finished run's frames are never replaced
        unless told. When only the keyframes differ, ``rekeyed`` says which frames their change
        touches (those of the shots whose keyframes changed): they are made again, the others
        kept. Frames made by another dvcp version or on another device are refused unless
        ``other_build``. Stale temporaries of a crashed run are removed.
        """
        self.check()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            present = [n for n in range(len(self.names)) if self.path(n).is_file()]
            kept: list[int] = []
            redone: list[int] = []
            records = self.record.recorded_frames()
            restarted: str | None = None
            recolour: set[int] = set()
            if present and not overwrite:
                restarted, recolour = self._check_settings(settings, present, len(records), rekeyed, other_build)
            if present and not overwrite and restarted is None:
                for n in present:
                    record = records.get(self.path(n).name)
                    if n in recolour:
                        continue
                    (kept if record is not None and record.matches(self.path(n)) else redone).append(n)
            keep = set(kept)
            for n in present:
                if n not in keep:
                    self.path(n).unlink()
            for stale in self.folder.glob(f".*{PARTIAL}{self.suffix}"):
                stale.unlink()
            self.record.remove_stale()
        except OSError as exc:
            raise OutputError(f"cannot prepare the output folder {self.folder}: {_reason(exc)}") from None
        self.record.start(settings, [records[self.path(n).name] for n in kept])
        return Resume(
            todo=[n for n in range(len(self.names)) if n not in keep],
            kept=len(kept),
            redone=[self.path(n).name for n in redone],
            restarted=restarted,
            rekeyed=len(recolour & set(present)),
        )

    def _check_settings(
        self, settings: Mapping[str, Any], present: list[int], recorded_frames: int, rekeyed: Rekeyed | None,
        other_build: bool,
    ) -> tuple[str | None, set[int]]:
        """Refuse frames of another run's settings, or of another build unless ``other_build``; the changes
        when that run did not finish (every frame made again), and the frames to make again when only
        the keyframes changed (see :meth:`prepare`)."""
        recorded = self.record.recorded_settings()
        if recorded is None:
            raise OutputError(
                f"{self.folder} already holds {len(present)} frame(s) that dvcp did not record making "
                f"(e.g. {self.path(present[0]).name}); use --overwrite to replace them, or another folder"
            )
        keys, changes = settings_changes(recorded, settings, other_build, f"{self.folder} holds frames")
        unfinished = isinstance(recorded.get("frames"), int) and recorded_frames < recorded["frames"]
        if changes and unfinished:
            return "; ".join(changes), set()
        if keys == ["keyframes"] and rekeyed is not None:
            return None, rekeyed(recorded["keyframes"], settings["keyframes"])
        if changes:
            raise OutputError(
                f"{self.folder} holds frames made with other settings ({'; '.join(changes)}); "
                "use --overwrite to make every frame again, or another folder"
            )
        return None, set()

    def write(self, n: int, frame: vs.VideoFrame) -> None:
        """Write frame ``n`` whole under a temporary name, rename it to its own, record it."""
        tmp, final = self._temporary(n), self.path(n)
        try:
            data = encode_image(frame_array(frame), self.suffix, str(final))
            write_all(tmp, data)
            os.replace(tmp, final)
        except ImageError as exc:
            tmp.unlink(missing_ok=True)
            raise OutputError(str(exc)) from None
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise OutputError(f"cannot write {final}: {_reason(exc)}") from None
        except BaseException:  # Ctrl-C or SIGTERM while writing: no temporary is left
            tmp.unlink(missing_ok=True)
            raise
        self.record.add(FrameRecord(final.name, len(data), hashlib.sha256(data).hexdigest()))

    def close(self) -> None:
        """Sync the frame record; every frame is complete once written."""
        self.record.close()

    def abort(self) -> None:
        """Close the frame record; finished frames are kept for the next run."""
        try:
            self.record.close()
        except OutputError:
            pass  # the error being reported is the one that stopped the run


def ffmpeg_executable() -> str:
    """The path of ``ffmpeg``, or an error that says how to get it."""
    path = shutil.which("ffmpeg")
    if path is None:
        raise OutputError(
            "video output needs ffmpeg, which is not on PATH; install it (e.g. apt-get install ffmpeg) "
            "or give an output folder to write frames instead"
        )
    return path


def _y4m_colour(bits: int) -> str:
    return "444" if bits == 8 else f"444p{bits}"


_FFMPEG_MATRIX = {vs.MATRIX_BT709: "bt709", vs.MATRIX_BT470_BG: "bt470bg", vs.MATRIX_ST170_M: "smpte170m"}


class VideoFile:
    """A video file written by ffmpeg from YUV444 frames (8-16 bit) piped as YUV4MPEG, in order."""

    def __init__(self, path: Path, fps: Fraction, ffmpeg_args: str | None = None) -> None:
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            raise OutputError(f"{path} is not a video file name ({', '.join(VIDEO_SUFFIXES)})")
        self.path, self.fps = path, fps
        self.partial = path.with_name(f"{path.stem}{PARTIAL}{path.suffix}")
        self.args = ffmpeg_arguments(path, ffmpeg_args)
        self.ffmpeg = ffmpeg_executable()
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()
        self._frames = 0  # frames piped to ffmpeg

    def check(self, overwrite: bool) -> None:
        """Fail now, before any work, when the video cannot be written or would replace a file."""
        check_writable_file(self.path, "the output video")
        if self.path.exists() and not overwrite:
            raise OutputError(f"{self.path} already exists; use --overwrite to replace it")

    def prepare(self, overwrite: bool) -> None:
        """Check that the video may be (re)written and make its folder."""
        self.check(overwrite)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot make the folder of {self.path}: {_reason(exc)}") from None

    def _start(self, frame: vs.VideoFrame) -> subprocess.Popen[bytes]:
        full = frame.props.get("_Range", vs.RANGE_FULL) == vs.RANGE_FULL
        header = (
            f"YUV4MPEG2 W{frame.width} H{frame.height} F{self.fps.numerator}:{self.fps.denominator} Ip A1:1 "
            f"C{_y4m_colour(frame.format.bits_per_sample)} XCOLORRANGE={'FULL' if full else 'LIMITED'}\n"
        )
        colour = ["-color_range", "pc" if full else "tv"]
        matrix = _FFMPEG_MATRIX.get(int(frame.props.get("_Matrix", vs.MATRIX_UNSPECIFIED)))
        if matrix:
            colour += ["-colorspace", matrix]
        command = [
            self.ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "yuv4mpegpipe", "-i", "-",
            *colour, *self.args, str(self.partial),
        ]
        try:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log)
        except OSError as exc:
            raise OutputError(f"cannot start ffmpeg ({self.ffmpeg}): {_reason(exc)}") from None
        assert process.stdin is not None
        self._process = process
        process.stdin.write(header.encode())
        return process

    def write(self, n: int, frame: vs.VideoFrame) -> None:
        """Append frame ``n`` (frames come in order) to the video."""
        try:
            process = self._process or self._start(frame)
            assert process.stdin is not None
            process.stdin.write(b"FRAME\n")
            for i in range(3):
                plane = np.asarray(frame[i])
                if plane.dtype.itemsize == 2:
                    plane = plane.astype("<u2", copy=False)
                process.stdin.write(np.ascontiguousarray(plane).tobytes())
            self._frames += 1
        except BrokenPipeError:
            message = self._ffmpeg_message()
            self.abort()
            raise OutputError(f"ffmpeg stopped while writing {self.path}: {message}") from None

    def _ffmpeg_message(self) -> str:
        if self._process is not None:
            self._close_input()
            self._process.wait()
        self._log.seek(0)
        lines = self._log.read().decode(errors="replace").strip().splitlines()
        return " / ".join(lines[-5:]) or "no message"

    def _close_input(self) -> None:
        """Close ffmpeg's input; frames it can no longer take (it stopped) are dropped."""
        assert self._process is not None and self._process.stdin is not None
        try:
            self._process.stdin.close()
        except OSError:
            pass  # a broken pipe: ffmpeg stopped, and its own message says why

    def close(self) -> None:
        """Finish the file and, once it reads back whole, give it its final name."""
        if self._process is None:
            raise OutputError(f"no frames were written to {self.path}")
        self._close_input()
        code = self._process.wait()
        if code != 0:
            message = self._ffmpeg_message()
            self.abort()
            raise OutputError(f"ffmpeg failed writing {self.path} (exit {code}): {message}")
        try:
            sync_file(self.partial)
            problem = video_problem(self.partial, self._frames, self.ffmpeg)
        except OSError as exc:
            problem = f"it cannot be saved: {_reason(exc)}"
        if problem is not None:
            message = self._ffmpeg_message()
            self.abort()
            raise OutputError(f"ffmpeg did not write {self.path} whole ({problem}); ffmpeg said: {message}")
        self._process = None
        self._log.close()
        try:
            os.replace(self.partial, self.path)
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot rename {self.partial} to {self.path}: {_reason(exc)}") from None

    def abort(self) -> None:
        """Stop ffmpeg and delete the unfinished file; never raises, so the first error is the one reported."""
        if self._process is not None:
            self._close_input()
            self._process.kill()
            self._process.wait()
            self._process = None
        self._log.close()
        try:
            self.partial.unlink(missing_ok=True)
        except OSError:
            pass  # nothing was made there (an unwritable place), or it cannot be removed: nothing to undo


def write_frames(
    node: vs.VideoNode, folder: FrameFolder, settings: Mapping[str, Any], overwrite: bool = False,
    in_flight: int | None = None, description: str | None = None, progress: Progress | None = None, *,
    rekeyed: Rekeyed | None = None, other_build: bool = False,
) -> Resume:
    """Render ``node`` (RGB24/RGB48) into ``folder``, resuming; what was kept, written and written again.

    ``settings`` describe what decides the frames' pixels (see the module doc); a folder holding
    frames made from other settings is refused unless ``overwrite`` (``rekeyed`` and
    ``other_build``: see :meth:`FrameFolder.prepare`). ``description`` labels the progress bar on
    stderr (none without it); ``progress`` is called with each frame written.
    """
    resume = folder.prepare(settings, overwrite, rekeyed=rekeyed, other_build=other_build)
    render(node, resume.todo, folder, in_flight or vs.core.num_threads, description, progress)
    return resume


def write_video(
    node: vs.VideoNode, video: VideoFile, overwrite: bool = False, in_flight: int | None = None,
    description: str | None = None, progress: Progress | None = None,
) -> int:
    """Render ``node`` (YUV 4:4:4) into ``video`` through ffmpeg; the number of frames written.

    ``description`` and ``progress`` as in :func:`write_frames`.
    """
    video.prepare(overwrite)
    render(node, range(node.num_frames), video, in_flight or vs.core.num_threads, description, progress)
    return node.num_frames
