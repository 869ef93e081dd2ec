"""One writer per output: real dvcp processes started together on one folder, one video, one jobs file.

The first run reads its input from a script whose last frame waits for a gate file, so it holds
its output for as long as the test needs; the second run is started while it is writing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from dvcp_plugin.filters.images import write_image

FRAMES, HEIGHT, WIDTH = 6, 48, 64

GATED_SCRIPT = """\
import os, time
import numpy as np
import vapoursynth as vs

frames = np.load({frames!r})
gate = {gate!r}
blank = vs.core.std.BlankClip(format=vs.GRAY8, width={width}, height={height}, length={count}, keep=True)

def fill(n, f):
    if n == {count} - 1:
        while not os.path.exists(gate):
            time.sleep(0.05)
    out = f.copy()
    np.asarray(out[0])[...] = frames[n]
    return out

vs.core.std.ModifyFrame(blank, blank, fill).set_output()
"""


_started: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_run_outlives_its_test():
    """A run left waiting at its gate by a failed test is killed (a batch's reaper then stops its Ray)."""
    yield
    while _started:
        process = _started.pop()
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.fixture
def gated_input(tmp_path: Path, noise_frames: Callable[..., np.ndarray]) -> Iterator[tuple[Path, Path, list[Path]]]:
    """(a .vpy input whose last frame waits until the gate file exists, the gate file, two keyframes)."""
    frames = tmp_path / "frames.npy"
    np.save(frames, noise_frames(FRAMES, HEIGHT, WIDTH))
    gate = tmp_path / "gate"
    script = tmp_path / "gated.vpy"
    script.write_text(GATED_SCRIPT.format(frames=str(frames), gate=str(gate), width=WIDTH, height=HEIGHT, count=FRAMES))
    keys = []
    for k, seeds in enumerate(((1, 2, 3), (4, 5, 6))):
        keys.append(tmp_path / f"key{k}.png")
        write_image(keys[-1], np.stack([noise_frames(1, HEIGHT, WIDTH, seed)[0] for seed in seeds], axis=-1))
    yield script, gate, keys
    gate.touch()


def _dvcp(*args: object) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "dvcp_plugin.cli", *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    _started.append(process)
    return process


def _finish(process: subprocess.Popen[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    out, err = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _pngs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def _colorize(script: Path, key: Path, output: Path, weights: Path) -> subprocess.Popen[str]:
    return _dvcp("colorize", script, "-k", f"0={key}", "-o", output, "--weights", weights)


def _colorize_writing(
    script: Path, key: Path, out: Path, weights: Path, wait_for: Callable[..., None]
) -> subprocess.Popen[str]:
    """A ``dvcp colorize`` of the gated input into the folder ``out``, once it has written its first frames."""
    process = _colorize(script, key, out, weights)
    wait_for(lambda: len(list(out.glob("*.png"))) >= 2, process, "its first frames")
    return process


def test_a_second_run_on_a_frame_folder_fails_at_once_naming_the_first(
    tmp_path, gated_input, weights, assert_clean_error, wait_for
):
    script, gate, keys = gated_input
    out = tmp_path / "out"
    first = _colorize_writing(script, keys[0], out, weights, wait_for)

    second = _finish(_colorize(script, keys[1], out, weights), timeout=90)
    assert first.poll() is None  # refused while the first run was still writing
    assert_clean_error(second, "colorize", f"another dvcp run (PID {first.pid}) is writing {out}")

    gate.touch()
    done = _finish(first)
    assert done.returncode == 0, done.stderr
    reference = tmp_path / "reference"
    assert _finish(_colorize(script, keys[0], reference, weights)).returncode == 0
    assert _pngs(out) == _pngs(reference) and len(_pngs(out)) == FRAMES  # the first run's frames only
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".dvcp-lock")] == []


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_a_second_run_on_a_video_fails_at_once_and_the_video_is_the_first_runs(
    tmp_path, gated_input, weights, assert_clean_error, wait_for
):
    script, gate, keys = gated_input
    video = tmp_path / "g.mkv"
    first = _colorize(script, keys[0], video, weights)
    wait_for(lambda: (tmp_path / "g.partial.mkv").exists(), first, "ffmpeg to start")

    second = _finish(_colorize(script, keys[1], video, weights), timeout=90)
    assert first.poll() is None
    assert_clean_error(second, "colorize", f"another dvcp run (PID {first.pid}) is writing {video}")
    assert (tmp_path / "g.partial.mkv").exists()  # the second run did not touch the first one's file

    gate.touch()
    assert _finish(first).returncode == 0
    reference = tmp_path / "reference.mkv"
    assert _finish(_colorize(script, keys[0], reference, weights)).returncode == 0
    md5s = [_frame_md5s(path) for path in (video, reference)]
    assert md5s[0] == md5s[1] and len(md5s[0]) == FRAMES


def _frame_md5s(video: Path) -> list[str]:
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(video), "-f", "framemd5", "-"],
        capture_output=True, text=True, check=True,
    )
    return [line.rsplit(",", 1)[-1].strip() for line in done.stdout.splitlines() if not line.startswith("#")]


def test_runs_on_other_outputs_go_on_and_a_killed_runs_lock_never_blocks(
    tmp_path, gated_input, weights, grey_folder, wait_for
):
    script, gate, keys = gated_input
    out = tmp_path / "out"
    first = _colorize_writing(script, keys[0], out, weights, wait_for)

    source, key = grey_folder(count=3)
    other = _finish(_dvcp("colorize", source, "-k", f"0={key}", "-o", tmp_path / "other", "--weights", weights))
    assert other.returncode == 0, other.stderr  # a different output, while the first run writes
    assert first.poll() is None

    first.send_signal(signal.SIGKILL)
    first.wait()
    assert (tmp_path / ".out.dvcp-lock").read_text().strip() == str(first.pid)  # left by the killed run
    gate.touch()
    again = _finish(_colorize(script, keys[0], out, weights))
    assert again.returncode == 0, again.stderr
    reference = tmp_path / "reference"
    assert _finish(_colorize(script, keys[0], reference, weights)).returncode == 0
    assert _pngs(out) == _pngs(reference) and len(_pngs(out)) == FRAMES


def _batch_writing(
    tmp_path: Path, script: Path, key: Path, weights: Path, wait_for: Callable[..., None]
) -> tuple[Path, Path, subprocess.Popen[str]]:
    """(output, jobs file, process): a ``dvcp batch`` of the gated shot, once it has written its first frames."""
    out = tmp_path / "out"
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(
        f'[defaults]\nweights = "{weights}"\n\n'
        f'[[shot]]\ninput = "{script}"\noutput = "{out}"\nkeyframes = {{ 0 = "{key}" }}\n'
    )
    process = _dvcp("batch", jobs, "--workers", "1", "--summary", tmp_path / "first.json")
    wait_for(lambda: len(list(out.glob("*.png"))) >= 2, process, "its first frames", timeout=300)
    return out, jobs, process


def test_a_second_batch_of_one_jobs_file_fails_at_once_naming_the_first(
    tmp_path, gated_input, weights, assert_clean_error, wait_for
):
    script, gate, keys = gated_input
    out, jobs, first = _batch_writing(tmp_path, script, keys[0], weights, wait_for)

    second = _finish(_dvcp("batch", jobs, "--workers", "1", "--summary", tmp_path / "second.json"), timeout=90)
    assert first.poll() is None
    assert_clean_error(second, "batch", f"another dvcp run (PID {first.pid}) is writing {out}")
    assert not (tmp_path / "second.json").exists()

    gate.touch()
    done = _finish(first)
    assert done.returncode == 0, done.stderr
    assert len(_pngs(out)) == FRAMES


def _descendants(pid: int) -> dict[int, str]:
    """The processes descended from ``pid``, with their start times (so a PID used again is not taken for them)."""
    children: dict[int, list[int]] = {}
    starts: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        starts[int(entry.name)] = fields[19]
    found: dict[int, str] = {}
    todo = list(children.get(pid, ()))
    while todo:
        child = todo.pop()
        found[child] = starts[child]
        todo.extend(children.get(child, ()))
    return found


def _running(processes: dict[int, str]) -> list[str]:
    """Those of ``processes`` still running (zombies have ended), by command."""
    left = []
    for pid, start in processes.items():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if fields[0] not in ("Z", "X") and fields[19] == start:
            left.append(stat[stat.index("(") + 1 : stat.rindex(")")])
    return left


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to follow Ray's processes")
def test_the_ray_processes_of_a_batch_whose_driver_is_killed_are_stopped(tmp_path, gated_input, weights, wait_for):
    script, gate, keys = gated_input
    _, _, driver = _batch_writing(tmp_path, script, keys[0], weights, wait_for)
    time.sleep(2)  # Ray's agents are up
    started = _descendants(driver.pid)
    assert any("raylet" in name for name in _running(started)), _running(started)

    driver.send_signal(signal.SIGKILL)
    driver.communicate()
    try:
        deadline = time.monotonic() + 60
        while _running(started) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _running(started) == []
    finally:
        gate.touch()
        for pid, start in started.items():
            if _running({pid: start}):
                os.kill(pid, signal.SIGKILL)
