"""`dvcp batch` as a command: it starts its own local Ray, reports each failed shot, and exits non-zero."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from batch_archive import write_key, write_shot

pytest.importorskip("ray", reason="ray is not installed (the cluster extra: pip install '.[cluster]')")


def test_the_command_starts_ray_colours_the_good_shot_and_exits_1_for_the_bad_one(tmp_path, weights):
    write_key(tmp_path / "key.png", write_shot(tmp_path / "shot", 3, seed=0)[0])
    (tmp_path / "jobs.toml").write_text(f"""
[defaults]
weights = "{weights}"

[[shot]]
name = "good"
input = "shot"
output = "out/good"
keyframes = {{ 0 = "key.png" }}

[[shot]]
name = "bad"
input = "shot"
output = "out/bad"
keyframes = {{ 0 = "lost.png" }}
""")
    done = subprocess.run(
        [sys.executable, "-m", "dvcp_plugin.cli", "batch", "jobs.toml", "--workers", "1", "--summary", "s.json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    # Ray's own messages (its token-authentication warning, say) are in its log, not on the terminal
    lines = [line for line in done.stderr.replace("\r", "\n").splitlines() if line.strip()]
    assert all(line.startswith("dvcp batch") for line in lines), lines
    lost = tmp_path / "lost.png"
    assert f"dvcp batch: shot bad failed: the keyframe for frame 0: image file {lost} does not exist" in (
        done.stderr.splitlines()
    )
    assert done.stdout.strip() == "1 shot(s) coloured, 0 already finished, 1 failed; 3 frames written; summary: s.json"
    assert sorted(p.name for p in (tmp_path / "out/good").glob("*.png")) == ["f0000.png", "f0001.png", "f0002.png"]
    report = json.loads((tmp_path / "s.json").read_text())
    assert report["address"] == "local" and report["workers"] == 1
    assert report["ray_log"] == "s.ray.log"
    assert [s["status"] for s in report["shots"]] == ["done", "failed"]


def test_half_precision_or_a_gpu_this_machine_lacks_is_refused_before_ray_starts(tmp_path, weights, monkeypatch):
    write_key(tmp_path / "key.png", write_shot(tmp_path / "shot", 2, seed=0)[0])
    jobs = tmp_path / "jobs.toml"
    shot = '[[shot]]\ninput = "shot"\noutput = "out"\nkeyframes = { 0 = "key.png" }\n'
    jobs.write_text(f'[defaults]\nweights = "{weights}"\nhalf = true\n\n{shot}')
    command = [sys.executable, "-m", "dvcp_plugin.cli", "batch", str(jobs)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"dvcp batch: error: {jobs}: shot 1: half precision needs a CUDA device, and 'cpu' is not one: use a CUDA "
        "device, or half = false"
    )
    assert not (tmp_path / "out").exists() and not (tmp_path / "jobs.summary.json").exists()
    import torch

    if torch.cuda.is_available():
        return
    jobs.write_text(f'[defaults]\nweights = "{weights}"\n\n{shot}')
    done = subprocess.run([*command, "--device", "cuda"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"dvcp batch: error: {jobs}: shot 1: device 'cuda' asked for, but torch sees no CUDA device; to use a "
        "cluster's GPUs, give --address"
    )
    assert not (tmp_path / "jobs.ray.log").exists()  # Ray never started


def test_ctrl_c_prints_one_line_and_leaves_no_unfinished_staging(tmp_path, weights):
    write_key(tmp_path / "key.png", write_shot(tmp_path / "reel", 90, seed=0)[0])
    (tmp_path / "jobs.toml").write_text(f"""
[[shot]]
name = "reel"
input = "reel"
output = "out/reel.mkv"
cuts = [30, 60]
keyframes = {{ 0 = "key.png", 30 = "key.png", 60 = "key.png" }}
weights = "{weights}"
chroma_scale = 1.0
""")
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as err:
        run = subprocess.Popen(
            [sys.executable, "-m", "dvcp_plugin.cli", "batch", "jobs.toml", "--workers", "2"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=err, text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        deadline = time.monotonic() + 300
        while "frames/s" not in stderr.read_text() and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)  # until the workers are colouring
        assert run.poll() is None, stderr.read_text()
        run.send_signal(signal.SIGINT)
        out, _ = run.communicate(timeout=120)
    lines = [line for line in stderr.read_text().replace("\r", "\n").splitlines() if "shot/s" not in line.strip()]
    assert run.returncode == 130, lines
    assert [line for line in lines if line.strip()] == ["dvcp: interrupted"] and out == ""
    staging = tmp_path / "out" / ".reel.mkv.dvcp-parts"
    left = sorted(p.name for p in staging.iterdir()) if staging.exists() else []
    assert all(".partial" not in name for name in left), left  # only finished parts, for the next run
    assert not (tmp_path / "out" / "reel.mkv").exists() and not (tmp_path / "out" / "reel.partial.mkv").exists()
