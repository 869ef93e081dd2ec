"""Shared fixtures: VapourSynth cores, a weights file of untrained stages, small disks, the path to real footage,
tiny generated colour sequences (training and evaluation)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from dvcp_plugin.filters.images import write_image


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--data",
        default=os.environ.get("DVCP_DATA"),
        help="folder with train/ and val/ colour sequences (default: $DVCP_DATA, else ../shared/data)",
    )


@pytest.fixture(scope="session")
def data_dir(request: pytest.FixtureRequest) -> Path:
    """The real footage folder; tests that need it skip with the reason when it is absent."""
    option = request.config.getoption("--data")
    path = Path(option) if option else Path(__file__).resolve().parents[2] / "shared" / "data"
    if not (path / "val").is_dir():
        pytest.skip(f"real footage not found at {path} (pass --data DIR or set DVCP_DATA)")
    return path


@pytest.fixture
def core():
    """The VapourSynth core of the installed wheel."""
    import vapoursynth as vs

    return vs.core


@pytest.fixture(scope="session")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights file of untrained stages, so the tests do not depend on the shipped weights."""
    from dvcp_plugin.stages.build import untrained_weights
    from dvcp_plugin.stages.weights import save_weights

    return save_weights(tmp_path_factory.mktemp("weights") / "w.pt", untrained_weights(0))


@pytest.fixture
def small_disk(tmp_path: Path):
    """A factory of small tmpfs folders (``small_disk(bytes)``), unmounted afterwards.

    Skips the test where mounting is not permitted (not root, or in a container without it).
    """
    import subprocess

    mounted: list[Path] = []

    def mount(size: int) -> Path:
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs to fill a disk: {done.stderr.strip() or done.returncode}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill_disk(disk: Path, leave: int) -> Path:
    """Fill ``disk`` with a file, then shrink that file so that ``leave`` bytes are free; the file."""
    filler = disk / "filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
                handle.flush()
        except OSError:
            pass
    os.truncate(filler, filler.stat().st_size - leave)
    return filler


@pytest.fixture(name="fill_disk")
def fill_disk_fixture():
    """:func:`fill_disk`."""
    return fill_disk


WIDTH, HEIGHT = 96, 64  # of the tiny sequences


def make_sequence(folder: Path, frames: int, seed: int, step: tuple[int, int] = (2, 1)) -> Path:
    """A smooth random colour texture with luma detail, translated by ``step`` pixels per frame."""
    rng = np.random.default_rng(seed)
    dx, dy = step
    canvas_w, canvas_h = WIDTH + abs(dx) * frames + 8, HEIGHT + abs(dy) * frames + 8
    coarse = rng.uniform(0, 255, (6, 8, 3)).astype(np.float32)
    colour = cv2.resize(coarse, (canvas_w, canvas_h), interpolation=cv2.INTER_CUBIC)
    detail = cv2.resize(rng.uniform(-40, 40, (canvas_h // 4, canvas_w // 4)).astype(np.float32),
                        (canvas_w, canvas_h), interpolation=cv2.INTER_LINEAR)
    canvas = np.clip(colour + detail[..., None], 0, 255).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(frames):
        x = 4 + (t * dx if dx >= 0 else (frames - t) * -dx)
        y = 4 + (t * dy if dy >= 0 else (frames - t) * -dy)
        write_image(folder / f"{t:05d}.png", np.ascontiguousarray(canvas[y : y + HEIGHT, x : x + WIDTH]))
    return folder


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of three 8-frame 96x64 sequences moving in different directions."""
    root = tmp_path_factory.mktemp("tiny_data")
    for i, step in enumerate([(2, 1), (-2, 0), (1, -2)]):
        make_sequence(root / f"seq{i}", 8, seed=i, step=step)
    return root
