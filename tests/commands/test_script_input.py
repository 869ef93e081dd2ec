"""A script input runs as vspipe runs it: in its own folder, with its ``__file__`` and ``-a KEY=VALUE``;
the frame folders dvcp opens in a script are read from where they were when opened, from any folder."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

import dvcp_plugin
from dvcp_plugin.filters.images import read_image
from dvcp_plugin.media.sources import open_folder

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
VSPIPE = Path(sys.executable).with_name("vspipe")

# reads a frame folder given relative to the script's folder, and a scale from a file beside the script
READER = """
from fractions import Fraction
from pathlib import Path
import vapoursynth as vs
from dvcp_plugin.media.sources import open_input
factor = float(Path(__file__).with_name("factor.txt").read_text())
clip = open_input(Path(frames), Fraction(24)).clip
if factor != 1:
    clip = vs.core.std.Expr(clip, f"x {factor} *")
clip.set_output()
"""


@pytest.fixture
def script(tmp_path: Path, grey_folder) -> tuple[Path, Path]:
    """``scripts/reader.vpy`` beside ``scripts/frames/`` (grey PNGs) and ``scripts/factor.txt``; a keyframe."""
    frames, key = grey_folder(count=4, name="frames")
    (tmp_path / "scripts").mkdir()
    frames.rename(tmp_path / "scripts" / "frames")
    (tmp_path / "scripts" / "factor.txt").write_text("1")
    path = tmp_path / "scripts" / "reader.vpy"
    path.write_text(READER)
    return path, key


def test_colorize_runs_a_script_in_its_folder_with_its_arguments(tmp_path, script, weights, dvcp_in_process,
                                                                 monkeypatch):
    path, key = script
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # neither the script's folder nor the one holding it
    done = dvcp_in_process("colorize", "../scripts/reader.vpy", "-a", "frames=frames", "-k", f"0={key}",
                           "-o", "out", "--weights", weights)
    assert done.returncode == 0, done.stderr
    assert Path.cwd() == elsewhere  # the script ran in its own folder, and the command came back
    direct = dvcp_in_process("colorize", path.parent / "frames", "-k", f"0={key}", "-o", tmp_path / "direct",
                             "--weights", weights)
    assert direct.returncode == 0, direct.stderr
    written = sorted((elsewhere / "out").glob("*.png"))
    assert [p.name for p in written] == [f"{n:06d}.png" for n in range(4)]
    for n, frame in enumerate(written):  # the same frames as the folder itself gives
        assert np.array_equal(read_image(frame), read_image(tmp_path / "direct" / f"f{n:02d}.png"))


def test_shots_takes_script_arguments_and_refuses_them_for_other_inputs(script, dvcp_in_process,
                                                                       assert_clean_error):
    path, key = script
    done = dvcp_in_process("shots", path, "-a", "frames=frames")
    assert done.returncode == 0, done.stderr
    assert [line.split() for line in done.stdout.splitlines()[1:]] == [["1", "0", "3", "4", "-"]]
    done = dvcp_in_process("shots", path.parent / "frames", "-a", "frames=frames")
    assert_clean_error(done, "shots", "arguments are for a script (.vpy)")
    done = dvcp_in_process("shots", path, "-a", "no equals sign")
    assert_clean_error(done, "shots", "'no equals sign' is not KEY=VALUE")


def test_a_script_argument_changes_what_a_rerun_resumes(tmp_path, script, weights, dvcp_in_process):
    path, key = script
    first = dvcp_in_process("colorize", path, "-a", "frames=frames", "-k", f"0={key}", "-o", tmp_path / "out",
                            "--weights", weights)
    assert first.returncode == 0, first.stderr
    again = dvcp_in_process("colorize", path, "-a", "frames=frames", "-a", "unused=1", "-k", f"0={key}",
                            "-o", tmp_path / "out", "--weights", weights)
    assert again.returncode == 1 and "the input differs" in again.stderr, again.stderr


def test_colorize_takes_a_float_script(tmp_path, script, weights, dvcp_in_process):
    path, key = script
    (path.parent / "factor.txt").write_text("0.5")
    floats = path.with_name("floats.vpy")
    floats.write_text(READER.replace("clip.set_output()", "vs.core.resize.Point(clip, format=vs.GRAYS).set_output()"))
    done = dvcp_in_process("colorize", floats, "-a", "frames=frames", "-k", f"0={key}", "-o", tmp_path / "out",
                           "--weights", weights)
    assert done.returncode == 0, done.stderr
    frames = [read_image(p) for p in sorted((tmp_path / "out").glob("*.png"))]
    assert len(frames) == 4 and frames[0].dtype == np.uint16  # float input gives 16-bit frames
    grey = open_folder(path.parent / "frames", Fraction(24)).clip.std.Expr("x 0.5 *")
    api = dvcp_plugin.colorize(vs.core.resize.Point(grey, format=vs.GRAYS), {0: str(key)}, format=vs.RGB48,
                               weights=weights)
    for n, frame in enumerate(frames):
        f = api.get_frame(n)
        assert np.array_equal(frame, np.dstack([np.asarray(f[i]) for i in range(3)]))
    video = dvcp_in_process("colorize", floats, "-a", "frames=frames", "-k", f"0={key}", "-o", tmp_path / "out.mkv",
                            "--weights", weights)
    assert video.returncode == 0, video.stderr


def test_chain_example_reads_its_frames_when_vspipe_runs_it_from_another_folder(tmp_path, script, weights):
    path, key = script
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # vspipe runs the script in its own folder: a relative path there is relative to examples/
    frames = os.path.relpath(path.parent / "frames", EXAMPLES)
    run = subprocess.run(
        [str(VSPIPE), "-c", "y4m", os.path.relpath(EXAMPLES / "chain.vpy", elsewhere), "-",
         "-a", f"input={frames}", "-a", f"keyframe={key}", "-a", f"weights={weights}"],
        capture_output=True, cwd=elsewhere, timeout=300,
    )
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    assert run.stdout.count(b"FRAME") == 4
