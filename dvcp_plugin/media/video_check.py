"""Whether a video file is whole: it decodes, without an error, to the number of frames written.

ffmpeg can exit with status 0 after failing to write a file's end (a full disk while it writes
the trailer), leaving a file cut short that no player opens. A video is therefore only taken as
done once it has been read back: decoded to the end by ffmpeg (``-f framecrc``: one line per
frame, cheap to make) with nothing reported at the ``error`` level, and found to hold the frames
that were written.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

# seconds a read back may take per frame, on top of a minute; a stuck decoder is a failure too
_SECONDS_PER_FRAME = 2.0


def sync_file(path: Path) -> None:
    """Flush ``path``'s data to the disk; an ``OSError`` (a full disk, an I/O error) says it is not there."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def video_problem(path: Path, frames: int, ffmpeg: str) -> str | None:
    """What keeps the video at ``path`` from being a whole video of ``frames`` frames; None when it is one.

    ``ffmpeg`` is the path of the ffmpeg executable that decodes it.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"it cannot be read: {exc.strerror or exc}"
    if size == 0:
        return "it is empty (0 bytes)"
    command = [
        ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-i", str(path), "-map", "0:v:0", "-f", "framecrc", "-",
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, errors="replace", timeout=60 + _SECONDS_PER_FRAME * frames
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"ffmpeg could not read it back: {exc}"
    messages = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    decoded = sum(1 for line in done.stdout.splitlines() if line and not line.startswith("#"))
    if done.returncode != 0 or messages:
        said = " / ".join(messages[-3:]) or "no message"
        return f"it does not decode ({size} bytes, {decoded} frames read back): {said}"
    if decoded != frames:
        return f"it holds {decoded} frames, not the {frames} written ({size} bytes)"
    return None
