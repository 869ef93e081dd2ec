"""Writing colourised frames: an image folder that resumes, or a video file through ffmpeg.

Frame folders: each frame is written to a hidden temporary name (``.NAME.partial.png``), synced and
renamed, so a file with a frame's name is always a finished frame; a rerun keeps those and writes
only the missing ones. The folder's ``.dvcp-run.json`` records the settings that made its frames; a
rerun with other settings (another keyframe image, other weights, ...) is refused unless told to
overwrite, so frames of two different runs are never mixed.

Video files: YUV4MPEG frames are piped to ``ffmpeg``, which writes ``NAME.partial.SUFFIX``; the file
is renamed to its final name only when every frame is in it.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import vapoursynth as vs

from ..errors import DvcpError
from ..filters.images import ImageError, write_image

MANIFEST = ".dvcp-run.json"
PARTIAL = ".partial"
VIDEO_SUFFIXES = (".mkv", ".mp4", ".mov", ".avi", ".webm", ".nut", ".y4m")
# ffmpeg options per container when the user gives none: lossless FFV1 in Matroska keeps every
# sample; MP4/MOV get H.264 4:2:0 that any player shows
DEFAULT_FFMPEG_ARGS: dict[str, list[str]] = {
    ".mkv": ["-c:v", "ffv1", "-level", "3"],
    ".mp4": ["-pix_fmt", "yuv420p", "-crf", "16"],
    ".mov": ["-pix_fmt", "yuv420p", "-crf", "16"],
}


class OutputError(DvcpError):
    """An output that cannot be written, or that holds frames of another run."""


def frame_array(frame: vs.VideoFrame) -> np.ndarray:
    """An RGB24/RGB48 frame as a uint8/uint16 (H,W,3) array."""
    return np.stack([np.asarray(frame[i]) for i in range(3)], axis=-1)


def _sync_replace(tmp: Path, path: Path) -> None:
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class FrameFolder:
    """A folder receiving frames ``names[n] + suffix``; see the module doc for resuming."""

    def __init__(self, folder: Path, names: Sequence[str], suffix: str) -> None:
        self.folder, self.names, self.suffix = folder, list(names), suffix

    def path(self, n: int) -> Path:
        """Where frame ``n`` is written."""
        return self.folder / f"{self.names[n]}{self.suffix}"

    def _temporary(self, n: int) -> Path:
        return self.folder / f".{self.names[n]}{PARTIAL}{self.suffix}"

    def prepare(self, settings: Mapping[str, Any], overwrite: bool) -> list[int]:
        """Create the folder, check or record ``settings``, clear stale temporaries; the frames to write.

        With ``overwrite`` the folder's frames of these names are deleted first.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        manifest = self.folder / MANIFEST
        finished = [n for n in range(len(self.names)) if self.path(n).is_file()]
        if finished and not overwrite:
            recorded = self._recorded(manifest)
            if recorded is None:
                raise OutputError(
                    f"{self.folder} already holds {len(finished)} frame(s) that dvcp did not record making "
                    f"(e.g. {self.path(finished[0]).name}); use --overwrite to replace them, or another folder"
                )
            changed = sorted(key for key in {*recorded, *settings} if recorded.get(key) != settings.get(key))
            if changed:
                raise OutputError(
                    f"{self.folder} holds frames made with other settings ({', '.join(changed)} differ); "
                    "use --overwrite to replace them, or another folder"
                )
        if overwrite:
            for n in finished:
                self.path(n).unlink()
            finished = []
        for stale in self.folder.glob(f".*{PARTIAL}{self.suffix}"):
            stale.unlink()
        tmp = manifest.with_name(manifest.name + PARTIAL)
        tmp.write_text(json.dumps(dict(settings), indent=2, sort_keys=True) + "\n")
        _sync_replace(tmp, manifest)
        done = set(finished)
        return [n for n in range(len(self.names)) if n not in done]

    @staticmethod
    def _recorded(manifest: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(manifest.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def write(self, n: int, frame: vs.VideoFrame) -> None:
        """Write frame ``n`` under a temporary name, then rename it to its own."""
        tmp = self._temporary(n)
        try:
            write_image(tmp, frame_array(frame))
            _sync_replace(tmp, self.path(n))
        except (ImageError, OSError) as exc:
            tmp.unlink(missing_ok=True)
            raise OutputError(f"cannot write {self.path(n)}: {exc}") from None

    def close(self) -> None:
        """Nothing to finish: every frame is complete once written."""

    def abort(self) -> None:
        """Nothing to undo: finished frames are kept for the next run."""


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
        self.args = shlex.split(ffmpeg_args) if ffmpeg_args is not None else DEFAULT_FFMPEG_ARGS.get(
            path.suffix.lower(), []
        )
        self.ffmpeg = ffmpeg_executable()
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()

    def prepare(self, overwrite: bool) -> None:
        """Check that the video may be (re)written."""
        if self.path.exists() and not overwrite:
            raise OutputError(f"{self.path} already exists; use --overwrite to replace it")
        self.path.parent.mkdir(parents=True, exist_ok=True)

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
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log)
        assert process.stdin is not None
        process.stdin.write(header.encode())
        return process

    def write(self, n: int, frame: vs.VideoFrame) -> None:
        """Append frame ``n`` (frames come in order) to the video."""
        if self._process is None:
            self._process = self._start(frame)
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(b"FRAME\n")
            for i in range(3):
                plane = np.asarray(frame[i])
                if plane.dtype.itemsize == 2:
                    plane = plane.astype("<u2", copy=False)
                self._process.stdin.write(np.ascontiguousarray(plane).tobytes())
        except BrokenPipeError:
            message = self._ffmpeg_message()
            self.abort()
            raise OutputError(f"ffmpeg stopped while writing {self.path}: {message}") from None

    def _ffmpeg_message(self) -> str:
        if self._process is not None:
            self._process.wait()
        self._log.seek(0)
        lines = self._log.read().decode(errors="replace").strip().splitlines()
        return " / ".join(lines[-5:]) or "no message"

    def close(self) -> None:
        """Finish the file and give it its final name."""
        if self._process is None:
            raise OutputError(f"no frames were written to {self.path}")
        assert self._process.stdin is not None
        try:
            self._process.stdin.close()
        except BrokenPipeError:
            pass
        code = self._process.wait()
        if code != 0:
            message = self._ffmpeg_message()
            self.abort()
            raise OutputError(f"ffmpeg failed writing {self.path} (exit {code}): {message}")
        self._process = None
        self._log.close()
        os.replace(self.partial, self.path)

    def abort(self) -> None:
        """Stop ffmpeg and delete the unfinished file."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
        self._log.close()
        self.partial.unlink(missing_ok=True)
