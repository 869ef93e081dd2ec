"""Nothing left behind: checkpoint folders on SIGINT, SIGTERM and kill -9, and Ctrl-C inside one long request.

Every run here spills its checkpoints (a tiny ``cache_mb``) into its own temporary directory
(``TMPDIR``), so what it leaves there is what the test looks at.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from dvcp_plugin.filters.images import write_image

LONG_REQUEST = """
import sys, numpy as np, vapoursynth as vs, dvcp_plugin
N, W, H = {frames}, 64, 48
frames = np.random.default_rng(0).integers(0, 255, (N, H, W), dtype=np.uint8)
blank = vs.core.std.BlankClip(format=vs.GRAY8, width=W, height=H, length=N, keep=True)
def fill(n, f):
    out = f.copy()
    np.asarray(out[0])[...] = frames[n]
    return out
clip = vs.core.std.ModifyFrame(blank, blank, fill)
out = dvcp_plugin.colorize(clip, {{0: np.stack([frames[0]] * 3, -1)}}, cache_mb=0.05, weights={weights!r})
print("requesting", flush=True)
out.get_frame(N - 1)  # one request: a chain of N steps
print("finished", flush=True)
"""


def _spilled(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.glob("dvcp-checkpoints-*"))


def _as_from_a_terminal() -> None:
    """Ctrl-C as a terminal gives it: a background job of a shell may have started with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(args: list[str], tmp: Path) -> subprocess.Popen[str]:
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp)}
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=_as_from_a_terminal
    )


def _long_request(tmp_path: Path, weights: Path, wait_for: Callable[..., None]) -> subprocess.Popen[str]:
    script = tmp_path / "long.py"
    script.write_text(LONG_REQUEST.format(frames=4000, weights=str(weights)))
    process = _start([sys.executable, str(script)], tmp_path / "tmp")
    wait_for(lambda: bool(_spilled(tmp_path / "tmp")), process, "checkpoints were spilled")
    return process


def test_ctrl_c_stops_one_long_frame_request_within_a_few_frames(tmp_path, weights, wait_for):
    # 4000 chain steps take about 40 s on one core: without a check between steps Ctrl-C waits for all of them
    process = _long_request(tmp_path, weights, wait_for)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    sent = time.monotonic()
    try:
        out, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("Ctrl-C did not stop the request within 30 s")
    assert time.monotonic() - sent < 10
    assert "finished" not in out and "KeyboardInterrupt" in err, err[-2000:]
    assert _spilled(tmp_path / "tmp") == []


def test_sigterm_during_a_long_request_removes_the_checkpoint_folder(tmp_path, weights, wait_for):
    process = _long_request(tmp_path, weights, wait_for)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGTERM  # it still dies of SIGTERM
    assert _spilled(tmp_path / "tmp") == []


@pytest.mark.parametrize(
    ("signum", "code", "said"), [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")]
)
def test_dvcp_colorize_stopped_by_a_signal_leaves_nothing_behind(
    tmp_path, weights, noise_frames, wait_for, signum, code, said
):
    source = tmp_path / "in"
    source.mkdir()
    for k, frame in enumerate(noise_frames(400, 48, 64)):
        write_image(source / f"f{k:03d}.png", frame)
    key = tmp_path / "key.png"
    write_image(key, np.stack([noise_frames(1, 48, 64, seed)[0] for seed in (1, 2, 3)], axis=-1))
    out = tmp_path / "out"
    process = _start(
        [sys.executable, "-m", "dvcp_plugin.cli", "colorize", str(source), "-k", f"0={key}", "-o", str(out),
         "--weights", str(weights), "--cache-mb", "0.05"],
        tmp_path / "tmp",
    )
    wait_for(lambda: bool(_spilled(tmp_path / "tmp")) and len(list(out.glob("*.png"))) > 20, process, "frames")
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err[-2000:]
    assert f"dvcp: {said}" in err and "Traceback" not in err
    assert _spilled(tmp_path / "tmp") == []
    assert [p.name for p in out.iterdir() if ".partial" in p.name] == []
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".dvcp-lock")] == []


def test_a_later_run_removes_the_folders_of_killed_processes_and_keeps_live_ones(tmp_path, weights, wait_for):
    tmp = tmp_path / "tmp"
    killed = _long_request(tmp_path, weights, wait_for)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    left = _spilled(tmp)
    assert len(left) == 1  # kill -9 gives a process no chance to clean up

    from dvcp_plugin.runtime.spill_folders import make_spill_folder

    os.environ["TMPDIR"], before = str(tmp), os.environ.get("TMPDIR")
    try:
        import tempfile

        tempfile.tempdir = None
        live = make_spill_folder()  # this process's: alive
    finally:
        if before is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = before
        tempfile.tempdir = None
    assert live.parent == tmp
    stranger = tmp / "dvcp-checkpoints-notes"  # not named by a process: not ours to remove
    stranger.mkdir()

    later = subprocess.run(
        [sys.executable, "-c", LONG_REQUEST.format(frames=3, weights=str(weights))],
        capture_output=True, text=True, env={**os.environ, "TMPDIR": str(tmp)}, timeout=300,
    )
    assert later.returncode == 0, later.stderr
    assert _spilled(tmp) == sorted([live.name, stranger.name])
