"""Fixtures of the command-line tests: small input folders, and the `dvcp` command in a subprocess or in
this process."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from dvcp_plugin.filters.images import write_image


def noise_frames(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Grey uint8 frames (N,H,W) of smooth noise (a coarse random grid, upsampled) that pans 1 px per frame."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((height // 8 + 2, (width + count) // 8 + 2)).astype(np.float32)
    base = cv2.resize(coarse, ((width + count) // 8 * 8 + 16, height // 8 * 8 + 16), interpolation=cv2.INTER_CUBIC)
    base = np.rint(np.clip(base, 0, 1) * 200 + 28).astype(np.uint8)
    return np.stack([base[:height, k : k + width] for k in range(count)])


@pytest.fixture
def grey_folder(tmp_path: Path) -> Callable[..., tuple[Path, Path]]:
    """``grey_folder(count, height, width)``: a folder of grey PNG frames ``f00.png ...`` and a colour key."""

    def make(count: int = 6, height: int = 48, width: int = 64, name: str = "in") -> tuple[Path, Path]:
        folder = tmp_path / name
        folder.mkdir()
        for k, frame in enumerate(noise_frames(count, height, width)):
            write_image(folder / f"f{k:02d}.png", frame)
        key = tmp_path / f"{name}-key.png"
        write_image(key, np.stack([noise_frames(1, height, width, seed)[0] for seed in (1, 2, 3)], axis=-1))
        return folder, key

    return make


def run_dvcp(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``dvcp ARGS...`` in a new Python process (so what it prints at exit is seen too)."""
    return subprocess.run(
        [sys.executable, "-m", "dvcp_plugin.cli", *map(str, args)],
        capture_output=True, text=True, env=env, timeout=300,
    )


def assert_clean_error(done: subprocess.CompletedProcess[str], command: str, message: str) -> None:
    """Exit status 1 and exactly one line ``dvcp COMMAND: error: ...`` holding ``message``; no traceback."""
    errors = [line for line in done.stderr.splitlines() if f"dvcp {command}: error:" in line]
    assert done.returncode == 1, done.stderr
    assert len(errors) == 1 and errors[0].startswith(f"dvcp {command}: error: "), done.stderr
    assert message in errors[0], done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], what: str, timeout: float = 180) -> None:
    """Wait until ``condition()`` holds while ``process`` runs; fail (killing it) if it ends or takes too long."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the run ended before {what}: {process.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> Callable[..., None]:
    """:func:`wait_for`."""
    return wait_for


@pytest.fixture(name="noise_frames")
def noise_frames_fixture() -> Callable[..., np.ndarray]:
    """:func:`noise_frames`."""
    return noise_frames


@pytest.fixture(name="run_dvcp")
def run_dvcp_fixture() -> Callable[..., subprocess.CompletedProcess[str]]:
    """:func:`run_dvcp`."""
    return run_dvcp


@pytest.fixture
def dvcp_in_process(capsys: pytest.CaptureFixture[str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``dvcp ARGS...`` through ``dvcp_plugin.cli.main`` in this process, as a completed process."""
    from dvcp_plugin.cli import main

    def run(*args: object) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        printed = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, printed.out, printed.err)

    return run


@pytest.fixture(name="assert_clean_error")
def assert_clean_error_fixture() -> Callable[..., None]:
    """:func:`assert_clean_error`."""
    return assert_clean_error
