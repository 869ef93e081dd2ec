"""Helpers of the dvcp batch tests: generated shots on disk, reference runs of dvcp colorize, summaries."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dvcp_plugin.cli import main
from dvcp_plugin.filters.images import read_image, write_image
from dvcp_plugin.media.demo_shot import make_shot
from dvcp_plugin.models.color import grey_u8

HEIGHT, WIDTH = 48, 64


def write_shot(folder: Path, frames: int, seed: int) -> np.ndarray:
    """A generated shot's grey frames as ``folder/f0000.png``, ...; its colour frames (N,H,W,3) uint8."""
    colour = make_shot(frames, HEIGHT, WIDTH, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    for k, frame in enumerate(colour):
        write_image(folder / f"f{k:04d}.png", grey_u8(frame))
    return colour


def write_key(path: Path, frame: np.ndarray) -> Path:
    """A keyframe image."""
    write_image(path, frame)
    return path


def copy_frames(source: Path, names: list[str], folder: Path) -> Path:
    """A folder holding only the frames ``names`` of ``source`` (a shot cut out by hand)."""
    folder.mkdir(parents=True)
    for name in names:
        shutil.copy(source / name, folder / name)
    return folder


def colorize(input_path: Path, keys: dict[int, Path], output: Path, weights: Path) -> None:
    """Colour with ``dvcp colorize``: the reference a batch's shots must equal.

    With one torch thread, as a worker holding one CPU runs: convolutions may round differently
    with another thread count, so frames are bit-identical only for the same one.
    """
    args = ["colorize", str(input_path), "-o", str(output), "--weights", str(weights), "--threads", "1"]
    for n, key in keys.items():
        args += ["-k", f"{n}={key}"]
    assert main(args) == 0


def frames(folder: Path) -> dict[str, np.ndarray]:
    """The frames of an output folder by file name."""
    return {path.name: read_image(path) for path in sorted(folder.glob("*.png"))}


def grey_video(folder: Path, video: Path) -> Path:
    """The grey PNG frames of ``folder`` as a lossless FFV1 video."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-framerate", "24", "-i", str(folder / "f%04d.png"), "-c:v", "ffv1", str(video)],
        check=True,
    )
    return video


def video_frames(core: Any, video: Path) -> list[np.ndarray]:
    """Every frame of a video, planes stacked (H,W,3), read through bestsource."""
    clip = core.bs.VideoSource(source=str(video))
    return [np.stack([np.asarray(f[i]) for i in range(3)], axis=-1) for f in clip.frames()]


def summary(path: Path) -> dict[str, dict[str, Any]]:
    """A summary file's shots by name."""
    return {shot["name"]: shot for shot in json.loads(path.read_text())["shots"]}


needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


def dying_worker(after_frames: int) -> type:
    """A :class:`ShotWorker` whose process exits abruptly once it has written ``after_frames`` frames,
    on its first life only (not once Ray has restarted it): a fault to watch Ray retry a shot.

    The class is sent to Ray's workers by value (they do not import the tests).
    """
    import os

    import ray

    from dvcp_plugin.batch.worker import ShotWorker

    class DyingWorker(ShotWorker):
        def __init__(self, counter: str | None = None) -> None:
            super().__init__(counter)
            self.first_life = not ray.get_runtime_context().was_current_actor_reconstructed

        def frame_written(self, n: int) -> None:
            super().frame_written(n)
            if self.first_life and self.frames >= after_frames:
                os._exit(3)

    return DyingWorker
