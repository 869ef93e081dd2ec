"""`dvcp batch` as a command: it starts its own local Ray, reports each failed shot, and exits non-zero."""

from __future__ import annotations

import json
import subprocess
import sys

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
    lost = tmp_path / "lost.png"
    assert f"dvcp batch: shot bad failed: the keyframe for frame 0: image file {lost} does not exist" in (
        done.stderr.splitlines()
    )
    assert done.stdout.strip() == "1 shot(s) coloured, 0 already finished, 1 failed; 3 frames written; summary: s.json"
    assert sorted(p.name for p in (tmp_path / "out/good").glob("*.png")) == ["f0000.png", "f0001.png", "f0002.png"]
    report = json.loads((tmp_path / "s.json").read_text())
    assert report["address"] == "local" and report["workers"] == 1
    assert [s["status"] for s in report["shots"]] == ["done", "failed"]
