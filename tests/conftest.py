"""Shared fixtures: VapourSynth cores, a weights file of untrained stages, small disks, the path to real footage."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


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
