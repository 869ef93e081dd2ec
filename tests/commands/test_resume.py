"""A rerun keeps what still holds: a keyframe added to one shot makes only that shot's frames again, and frames
made by another dvcp version or on another device are kept only when told."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

from dvcp_plugin.filters.images import write_image

# 20 frames with scene changes at 5 and 12: three shots, 0-4, 5-11 and 12-19
SCRIPT = """
import numpy as np
import vapoursynth as vs
core = vs.core
clip = core.std.BlankClip(format=vs.GRAY8, width=64, height=48, length=20, color=[90])
def texture(n, f):
    out = f.copy()
    y, x = np.mgrid[0:48, 0:64]
    np.asarray(out[0])[...] = (128 + 60 * np.sin((x + 2 * n) / 5.0) * np.cos(y / 7.0)).astype(np.uint8)
    return out
clip = core.std.ModifyFrame(clip, clip, texture)
cut = lambda n: clip[n].std.SetFrameProps(_SceneChangePrev=1)
core.std.Splice([clip[0:5], cut(5), clip[6:12], cut(12), clip[13:]]).set_output()
"""


@pytest.fixture
def reel(tmp_path: Path) -> tuple[Path, list[Path]]:
    """The script and four keyframe images of different colours."""
    path = tmp_path / "reel.vpy"
    path.write_text(SCRIPT)
    keys = []
    for i, colour in enumerate([(200, 90, 40), (40, 160, 200), (90, 200, 60), (220, 60, 160)]):
        keys.append(tmp_path / f"key{i}.png")
        write_image(keys[-1], np.dstack([np.full((48, 64), v, np.uint8) for v in colour]))
    return path, keys


def _frames(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_ino, p.read_bytes()) for p in sorted(folder.glob("*.png"))}


def test_a_keyframe_added_to_a_shot_makes_only_that_shot_again(tmp_path, reel, weights, dvcp_in_process):
    script, keys = reel
    out = tmp_path / "out"
    first = ["colorize", script, "-k", f"0={keys[0]}", "-k", f"5={keys[1]}", "-k", f"12={keys[2]}", "-o", out,
             "--weights", weights]
    assert dvcp_in_process(*first).returncode == 0
    before = _frames(out)
    done = dvcp_in_process(*first, "-k", f"17={keys[3]}")  # a keyframe more in the last shot
    assert done.returncode == 0, done.stderr
    assert f"wrote 8 frames to {out} (12 kept from an earlier run; 8 made again: the keyframes of their shots " \
        "changed)" in done.stdout
    after = _frames(out)
    names = sorted(before)
    assert all(after[name] == before[name] for name in names[:12])  # shots 0-4 and 5-11: the same files
    assert all(after[name][1] != before[name][1] for name in names[13:17])  # the last shot: new colours
    fresh = dvcp_in_process(*[tmp_path / "fresh" if a == out else a for a in first], "-k", f"17={keys[3]}")
    assert fresh.returncode == 0
    fresh_frames = _frames(tmp_path / "fresh")
    assert {n: data for n, (_, data) in after.items()} == {n: data for n, (_, data) in fresh_frames.items()}

    write_image(keys[1], np.dstack([np.full((48, 64), v, np.uint8) for v in (10, 250, 10)]))  # repainted
    done = dvcp_in_process(*first, "-k", f"17={keys[3]}")
    assert done.returncode == 0 and "(13 kept from an earlier run; 7 made again" in done.stdout, done.stdout
    assert all(_frames(out)[name] == after[name] for name in [*names[:5], *names[12:]])


def test_the_record_names_the_version_and_device_and_another_is_kept_only_when_told(
    tmp_path, reel, weights, dvcp_in_process, assert_clean_error
):
    script, keys = reel
    out = tmp_path / "out"
    command = ["colorize", script, "-k", f"0={keys[0]}", "-k", f"5={keys[1]}", "-k", f"12={keys[2]}", "-o", out,
               "--weights", weights]
    assert dvcp_in_process(*command).returncode == 0
    record = out / ".dvcp-run.json"
    settings = json.loads(record.read_text())
    assert (settings["dvcp"], settings["device"]) == (version("dvcp-plugin"), "cpu")
    record.write_text(json.dumps({**settings, "dvcp": "0.0.1", "device": "cuda (a GPU)"}))
    (out / "000019.png").unlink()
    before = _frames(out)
    done = dvcp_in_process(*command)
    assert_clean_error(done, "colorize", f"{out} holds frames made by dvcp 0.0.1 on cuda (a GPU), and this run is "
                       f"dvcp {version('dvcp-plugin')} on cpu, whose frames may differ slightly; use --resume-anyway "
                       "to keep them, or --overwrite to make every frame again")
    assert _frames(out) == before
    done = dvcp_in_process(*command, "--resume-anyway")
    assert done.returncode == 0 and "wrote 1 frames" in done.stdout and "19 kept" in done.stdout, done.stdout
    assert json.loads(record.read_text())["dvcp"] == version("dvcp-plugin")
