"""Bad input on the command line: one line `dvcp COMMAND: error: ...`, exit status 1, no traceback,
nothing half-written, and output paths checked before the work."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dvcp_plugin.filters.images import read_image, write_image


@pytest.fixture
def places(tmp_path: Path, grey_folder, noise_frames) -> dict[str, Path]:
    """A grey input folder and its key, a folder of colour sequences, a plain file and a fresh output path."""
    grey, key = grey_folder(count=4)
    colour = tmp_path / "colour" / "seq"
    colour.mkdir(parents=True)
    for k in range(3):
        write_image(colour / f"{k:05d}.png", np.stack([noise_frames(1, 64, 64, seed=k + s)[0] for s in (0, 5, 9)], -1))
    (tmp_path / "a-file").write_text("not a folder")
    return {"grey": grey, "key": key, "data": colour.parent, "file": tmp_path / "a-file", "out": tmp_path / "out"}


def _fill_in(text: str, places: dict[str, Path]) -> str:
    for name, path in places.items():
        text = text.replace(f"{{{name}}}", str(path))
    return text


CASES = [
    ("train", ["{data}", "--out", "{file}"], "--out {file} cannot be made: {file} is a file, not a folder"),
    ("train", ["{data}", "--out", "{out}", "--save-every", "0"], "save_every must be a positive whole number, got 0"),
    ("train", ["{data}", "--out", "{out}", "--batch", "0"], "batch must be a positive whole number, got 0"),
    ("train", ["{data}", "--out", "{out}", "--max-stride", "0"], "max_stride must be a positive whole number, got 0"),
    ("train", ["{data}", "--out", "{out}", "--stage-options", '{"local": {"colour": 1}}'],
     "the local stage 'mcsepconv' does not take the option 'colour' (--stage-options)"),
    ("train", ["{data}", "--out", "{out}", "--stage-options", '{"local": '], "is not JSON"),
    ("train", ["{data}", "--out", "{out}", "--stage-options", '{"colour": {}}'], "unknown stage kind(s) colour"),
    ("colorize", ["{grey}", "-k", "-1={key}", "-o", "{out}"], "frame -1 is negative; frames count from 0"),
    ("colorize", ["{grey}", "-k", "0={key}", "-o", "{out}", "--half"],
     "half precision needs a CUDA device, and 'cpu' is not one: use a CUDA device, or drop --half"),
    ("colorize", ["{grey}", "-k", "0={key}", "-o", "{out}", "--chroma-scale", "0.1"],
     "or a larger chroma_scale (at most --chroma-scale 1)"),
    ("colorize", ["{grey}", "-o", "{out}"], "the following arguments are required: -k/--key"),
    ("colorize", ["{grey}", "-k", "0={key}", "-o", "{file}/frames"], "cannot be made: {file} is a file, not a folder"),
    ("colorize", ["{grey}", "-k", "0={key}", "-o", "{out}", "--stage-options", '{"refine": {"colour": 1}}'],
     "the refine stage 'fusion' does not take the option 'colour' (stage_options)"),
    ("eval", ["{data}", "--json", "{file}/scores.json"], "--json {file}/scores.json cannot be made: {file} is a file"),
    ("eval", ["{data}", "--json", "{out}/s.json", "--plot", "{file}/psnr.png"],
     "--plot {file}/psnr.png cannot be made"),
    ("eval", ["{data}", "--json", "{out}/s.json", "--sheet", "{out}"], "--sheet {out} is a folder"),
]


@pytest.mark.parametrize(("command", "argv", "message"), CASES, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(CASES)])
def test_bad_input_is_one_error_line(places, weights, dvcp_in_process, assert_clean_error, command, argv, message):
    if command == "eval" and argv[-1] == "{out}":
        places["out"].mkdir()
    args = [_fill_in(a, places) for a in argv]
    done = dvcp_in_process(command, *args, *(["--weights", weights] if command != "train" else []))
    assert_clean_error(done, command, _fill_in(message, places))
    assert "frame/s" not in done.stderr  # refused before any frame was made
    assert not (places["out"] / "s.json").exists() and not (places["out"] / "f00.png").exists()


def test_a_read_only_output_is_refused_before_the_work(places, weights, small_disk, run_dvcp, assert_clean_error):
    disk = small_disk(1 << 20)
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    done = run_dvcp("colorize", places["grey"], "-k", f"0={places['key']}", "-o", disk / "out", "--weights", weights)
    assert_clean_error(done, "colorize", f"the output folder {disk / 'out'} cannot be written: Read-only file system")
    assert "frame/s" not in done.stderr
    done = run_dvcp("eval", places["data"], "--json", disk / "scores.json", "--weights", weights)
    assert_clean_error(done, "eval", "cannot be written: Read-only file system")
    assert "frame/s" not in done.stderr


def test_a_frame_that_cannot_be_read_mid_run_is_one_line_without_traceback(
    places, weights, run_dvcp, assert_clean_error
):
    broken = places["grey"] / "f02.png"
    broken.write_bytes(broken.read_bytes()[:300])  # a copy cut short
    done = run_dvcp("colorize", places["grey"], "-k", f"0={places['key']}", "-o", places["out"], "--weights", weights)
    assert_clean_error(done, "colorize", f"cannot read image file {broken}: not a readable PNG, TIFF or JPEG")
    assert "vapoursynth.Error" not in done.stderr and 'File "' not in done.stderr
    assert sorted(p.name for p in places["out"].glob("*.png")) == ["f00.png", "f01.png"]
    for path in places["out"].glob("*.png"):
        assert read_image(path).shape == (48, 64, 3)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_an_ffmpeg_failure_shows_ffmpegs_message_and_leaves_nothing(
    tmp_path, grey_folder, weights, run_dvcp, assert_clean_error
):
    source, key = grey_folder(count=4, height=240, width=320, name="big")  # more than a pipe's buffer
    video = tmp_path / "out.mkv"
    done = run_dvcp("colorize", source, "-k", f"0={key}", "-o", video, "--weights", weights,
                    "--ffmpeg-args", "-c:v no-such-encoder")
    assert_clean_error(done, "colorize", "Unknown encoder 'no-such-encoder'")
    assert "BrokenPipeError" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("out")) == []


def _a_bug(*args, **kwargs):
    raise ZeroDivisionError("a bug in the state cache")


def test_a_bug_while_colouring_is_an_internal_error_with_its_traceback_kept(
    places, weights, dvcp_in_process, monkeypatch
):
    # raised in a frame callback on VapourSynth's threads: the command line still gets the exception itself
    monkeypatch.setattr("dvcp_plugin.runtime.state_cache.StateCache.estimate", _a_bug)
    done = dvcp_in_process("colorize", places["grey"], "-k", f"0={places['key']}", "-o", places["out"],
                           "--weights", weights)
    assert done.returncode == 70, done.stderr
    assert "error: " not in done.stderr and "Traceback" not in done.stderr  # not worded as a mistake of the input
    (line,) = [line for line in done.stderr.splitlines() if "internal error" in line]
    assert line.startswith("dvcp colorize: internal error (a bug")
    assert "ZeroDivisionError: a bug in the state cache" in line
    kept = Path(line.split("its traceback is in ")[1].split(";")[0])
    text = kept.read_text()
    kept.unlink()
    assert "Traceback" in text and "in _a_bug" in text and "ZeroDivisionError: a bug in the state cache" in text
    assert "--debug" in line

    done = dvcp_in_process("--debug", "colorize", places["grey"], "-k", f"0={places['key']}", "-o", places["out"],
                           "--weights", weights, "--overwrite")
    assert done.returncode == 70
    assert "Traceback (most recent call last)" in done.stderr and "in _a_bug" in done.stderr
    assert "its traceback is above" in done.stderr


def test_debug_prints_the_traceback_of_a_mistake_too(places, weights, dvcp_in_process):
    done = dvcp_in_process("colorize", places["grey"], "-k", f"0={places['key']}", "-o", places["out"],
                           "--weights", weights, "--chroma-scale", "2", "--debug")
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr and "OptionError" in done.stderr
    assert done.stderr.strip().splitlines()[-1] == "dvcp colorize: error: --chroma-scale 2.0 must be in (0, 1]"


def test_odd_frames_for_a_420_video_are_refused_before_the_work(tmp_path, grey_folder, weights, dvcp_in_process,
                                                                 assert_clean_error):
    grey, key = grey_folder(count=3, height=47, width=63)
    done = dvcp_in_process("colorize", grey, "-k", f"0={key}", "-o", tmp_path / "odd.mp4", "--weights", weights)
    assert_clean_error(done, "colorize", "the frames are 63x47, and odd.mp4 is written as yuv420p, whose chroma needs "
                       "a width divisible by 2 and a height by 2: write .mkv (lossless 4:4:4) instead, or choose "
                       "a 4:4:4 pixel format, e.g. --ffmpeg-args '-pix_fmt yuv444p -crf 16'")
    assert "frame/s" not in done.stderr and not list(tmp_path.glob("odd*"))
    done = dvcp_in_process("colorize", grey, "-k", f"0={key}", "-o", tmp_path / "odd.mp4", "--weights", weights,
                           "--ffmpeg-args", "-pix_fmt yuv444p -crf 16")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "odd.mp4").is_file()
