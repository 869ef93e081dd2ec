"""`dvcp shots` lists an input's shots before any colouring; a script's scene changes reach `dvcp colorize`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dvcp_plugin.filters.images import read_image, write_image

SCRIPT = """
import vapoursynth as vs
core = vs.core
clip = core.std.BlankClip(format=vs.GRAY8, width=64, height=48, length=20, color=[90])
cut = lambda n: clip[n].std.SetFrameProps(_SceneChangePrev=1)
core.std.Splice([clip[0:5], cut(5), clip[6:12], cut(12), clip[13:]]).set_output()
"""


@pytest.fixture
def script(tmp_path: Path) -> tuple[Path, Path]:
    """A script whose 20 frames have scene changes at 5 and 12, and a keyframe image of its size."""
    path = tmp_path / "cuts.vpy"
    path.write_text(SCRIPT)
    key = tmp_path / "key.png"
    write_image(key, np.dstack([np.full((48, 64), v, np.uint8) for v in (200, 90, 40)]))
    return path, key


def test_shots_lists_the_shots_and_fails_on_one_without_keyframe(script, run_dvcp, dvcp_in_process, assert_clean_error):
    path, key = script
    done = run_dvcp("shots", path, "-k", f"0={key}", "-k", f"12={key}")
    assert_clean_error(done, "shots", "1 shot(s) hold no keyframe; their first frames: 5;")
    rows = [line.split() for line in done.stdout.splitlines()[1:]]
    assert rows == [
        ["1", "0", "4", "5", "0"],
        ["2", "5", "11", "7", "-", "<-", "no", "keyframe"],
        ["3", "12", "19", "8", "12"],
    ]
    done = dvcp_in_process("shots", path, "-k", f"3={key}", "-k", f"8={key}", "-k", f"19={key}")
    assert done.returncode == 0, done.stderr  # a keyframe anywhere in a shot colours it
    assert [line.split()[1:] for line in done.stdout.splitlines()[1:]] == [
        ["0", "4", "5", "3"], ["5", "11", "7", "8"], ["12", "19", "8", "19"],
    ]
    done = dvcp_in_process("shots", path, "-k", f"0={key}", "--unkeyed-cuts", "continue")
    assert done.returncode == 0, done.stderr
    assert [line.split() for line in done.stdout.splitlines()[1:]] == [["1", "0", "19", "20", "0"]]


def test_colorize_takes_a_script_and_its_unkeyed_cuts_option(
    tmp_path, script, weights, dvcp_in_process, assert_clean_error
):
    path, key = script
    done = dvcp_in_process("colorize", path, "-k", f"0={key}", "-o", tmp_path / "strict", "--weights", weights)
    assert_clean_error(done, "colorize", "error: frame 5 starts a new shot (_SceneChangePrev=1) but that shot has no "
                       "keyframe; give a keyframe in it, or, if the cut at frame 5 is false, let the shots join across "
                       "it (--unkeyed-cuts continue)")
    done = dvcp_in_process("colorize", path, "-k", f"0={key}", "-o", tmp_path / "out", "--weights", weights,
                           "--unkeyed-cuts", "continue")
    assert done.returncode == 0, done.stderr
    frames = sorted((tmp_path / "out").glob("*.png"))
    assert len(frames) == 20 and read_image(frames[7]).shape == (48, 64, 3)
