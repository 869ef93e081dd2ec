"""The jobs file of dvcp batch: what a shot means, and every mistake as one clear error before any work."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from batch_archive import write_key, write_shot

from dvcp_plugin.batch.jobs import read_jobs
from dvcp_plugin.batch.plan import plan_shots
from dvcp_plugin.cli import main


def jobs_file(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "jobs.toml"
    path.write_text(text)
    return path


def test_paths_are_relative_to_the_jobs_file_and_options_reach_each_shot(tmp_path, monkeypatch):
    jobs_file(tmp_path / "archive", """
[defaults]
weights = "w/archive.pt"
chroma_scale = 0.5
device = "cpu"

[[shot]]
input = "scans/a"
output = "out/a"
keyframes = { 120 = "keys/a120.png", 0 = "keys/a0.png" }

[[shot]]
name = "b"
input = "/abs/b.mkv"
output = "out/b.mp4"
keyframes = { 10 = "keys/b.png" }
frames = [10, 40]
chroma_scale = 0.25
half = true
device = "cuda"
fps = "24000/1001"
ffmpeg_args = "-c:v libx264 -crf 12"
suffix = ".tif"
unkeyed_cuts = "continue"
stage_options = { global = { imagenet_weights = "/models/resnet18.pth" } }
""")
    monkeypatch.chdir(tmp_path)  # not the jobs file's folder
    a, b = read_jobs(Path("archive/jobs.toml"), device="cuda")
    base = (tmp_path / "archive").absolute()
    assert a.name == "out/a"
    assert (a.input, a.output) == (base / "scans/a", base / "out/a")
    assert a.keyframes == {0: base / "keys/a0.png", 120: base / "keys/a120.png"}
    assert a.options.weights == base / "w/archive.pt" and a.options.chroma_scale == 0.5
    assert a.options.device == "cuda"  # --device replaces [defaults]' device ...
    assert a.frames is None and a.cuts == () and a.output_options.fps == 24

    assert b.name == "b" and b.input == Path("/abs/b.mkv") and b.frames == (10, 40)
    assert b.options.device == "cuda" and b.options.half and b.options.chroma_scale == 0.25  # ... not a shot's own
    assert b.options.weights == base / "w/archive.pt"
    written = b.output_options
    assert (written.fps, written.ffmpeg_args, written.suffix) == (Fraction(24000, 1001), "-c:v libx264 -crf 12", ".tif")
    assert b.options.unkeyed_cuts == "continue" and a.options.unkeyed_cuts == "error"
    assert b.options.stage_options == {"global": {"imagenet_weights": "/models/resnet18.pth"}}
    assert a.options.stage_options is None
    assert "jobs.toml: shot 2 (b)" in b.label


def test_a_reel_is_split_at_its_cuts_with_its_keyframes_renumbered(tmp_path):
    write_shot(tmp_path / "reel", 10, seed=0)
    path = jobs_file(tmp_path, """
[[shot]]
input = "reel"
output = "out"
frames = [1, 9]
cuts = [4, 7]
keyframes = { 1 = "k1.png", 4 = "k4.png", 5 = "k5.png", 7 = "k7.png" }
""")
    (planned,) = plan_shots(read_jobs(path))
    assert planned.status is None and planned.reel is not None and planned.reel.output == tmp_path / "out"
    spans = [(p.frames, p.keyframes, p.output.relative_to(tmp_path), p.reel) for p in planned.parts]
    assert spans == [
        ((1, 3), {0: tmp_path / "k1.png"}, Path("out/.dvcp-parts/000001-000003"), tmp_path / "out"),
        ((4, 6), {0: tmp_path / "k4.png", 1: tmp_path / "k5.png"}, Path("out/.dvcp-parts/000004-000006"),
         tmp_path / "out"),
        ((7, 9), {0: tmp_path / "k7.png"}, Path("out/.dvcp-parts/000007-000009"), tmp_path / "out"),
    ]


def test_a_reel_whose_input_cannot_be_read_is_planned_as_failed_not_refused(tmp_path):
    path = jobs_file(tmp_path, """
[[shot]]
input = "nowhere"
output = "out"
cuts = [4]
keyframes = { 0 = "k0.png", 4 = "k4.png" }

[[shot]]
input = "also-nowhere"
output = "out2"
keyframes = { 0 = "k0.png" }
""")
    reel, plain = plan_shots(read_jobs(path))
    assert reel.status == "failed" and "nowhere does not exist" in reel.error and not reel.parts
    assert plain.status is None and len(plain.parts) == 1  # its input is opened by its worker


GOOD = """
input = "reel"
output = "out"
keyframes = { 0 = "key.png" }
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[shot]\ninput = 1", "is not valid TOML"),
        ("title = 'archive'", "unknown table or key 'title'"),
        ("[defaults]\nweights = 'w.pt'", "no [[shot]] tables"),
        ("[[shot]]\ninput = 'reel'\noutput = 'out'", "shot 1: missing keyframes"),
        (f"[[shot]]{GOOD}chroma = 0.5", "shot 1: unknown key 'chroma' (known: name, input, output"),
        ("[defaults]\nhalf = 'yes'\n[[shot]]" + GOOD, "[defaults]: half must be true or false"),
        (f"[[shot]]{GOOD}threads = 0", "threads must be a positive integer"),
        (f"[[shot]]{GOOD}device = 'cuda:1'", "device must be 'cpu' or 'cuda', not 'cuda:1'"),
        (f"[[shot]]{GOOD}chroma_scale = 2", "chroma_scale must be in (0, 1]"),
        (f"[[shot]]{GOOD}suffix = '.bmp'", "suffix must be one of .png, .tif"),
        (f"[[shot]]{GOOD}fps = 'fast'", "fps 'fast' is not a frame rate"),
        (f"[[shot]]{GOOD}unkeyed_cuts = 'skip'", "unkeyed_cuts must be 'error' or 'continue'"),
        (f"[[shot]]{GOOD}stage_options = 'resnet18'", "stage_options must be a table of options per stage kind"),
        (f"[[shot]]{GOOD}stage_options = {{ colour = {{ a = 1 }} }}", "stage_options has unknown stage kind(s) colour"),
        ("[[shot]]\ninput = 'reel'\noutput = 'out'\nkeyframes = { first = 'key.png' }",
         "keyframe 'first' is not a frame number"),
        ("[[shot]]\ninput = 'reel'\noutput = 'out'\nkeyframes = []", "keyframes must be a table"),
        ("[[shot]]\ninput = 3\noutput = 'out'\nkeyframes = { 0 = 'key.png' }", "input must be a non-empty string"),
        (f"[[shot]]{GOOD}frames = [5, 2]", "frames must be [first, last]"),
        (f"[[shot]]{GOOD}cuts = [3, 3]", "cuts must increase: 3 comes after 3"),
        (f"[[shot]]{GOOD}cuts = [4, 2]", "cuts must increase: 2 comes after 4"),
        (f"[[shot]]{GOOD}cuts = [0, 2]", "cut 0 is not after the first frame (0)"),
        (f"[[shot]]{GOOD}frames = [0, 3]\ncuts = [2, 5]", "cut 5 is past the last frame (3)"),
        ("[[shot]]\ninput = 'reel'\noutput = 'out'\nframes = [2, 5]\nkeyframes = { 0 = 'k.png' }",
         "keyframe 0 is outside frames [2, 5]"),
        ("[[shot]]\ninput = 'reel'\noutput = 'out.png'\nkeyframes = { 0 = 'k.png' }", "names an image"),
        ("[[shot]]\ninput = 'reel'\noutput = 'reel'\nkeyframes = { 0 = 'k.png' }",
         "the output folder is the input folder"),
        (f"[[shot]]{GOOD}[[shot]]{GOOD}", "both write"),
        (f"[[shot]]{GOOD}[[shot]]\ninput = 'reel'\noutput = 'out/shot2'\nkeyframes = {{ 0 = 'k.png' }}",
         "its output {tmp}/out/shot2 lies in {tmp}/out, the output folder of shot 'out'"),
        (f"[[shot]]{GOOD}cuts = [3]\n[[shot]]\ninput = 'reel'\noutput = 'out/.dvcp-parts/x'\n"
         "keyframes = { 0 = 'k.png' }",
         "lies in {tmp}/out/.dvcp-parts, where shot 'out' stages the parts of its reel"),
        ("[[shot]]\ninput = 'reel'\noutput = 'r.mkv'\ncuts = [3]\nkeyframes = { 0 = 'k.png', 3 = 'k.png' }\n"
         "[[shot]]\ninput = 'reel'\noutput = '.r.mkv.dvcp-parts/000000-000002'\nkeyframes = { 0 = 'k.png' }",
         "lies in {tmp}/.r.mkv.dvcp-parts, where shot 'r.mkv' stages the parts of its reel"),
        (f"[[shot]]\nname = 'a'{GOOD}[[shot]]\nname = 'a'\ninput = 'reel'\noutput = 'o2'\n"
         "keyframes = { 0 = 'k.png' }",
         "two shots are named 'a'"),
        # checks against the input's length (6 frames)
        (f"[[shot]]{GOOD}cuts = [3, 6]", "shot 1: cut 6 is past the input's last frame, 5"),
        ("[[shot]]\ninput = 'reel'\noutput = 'out'\nframes = [2, 9]\nkeyframes = { 2 = 'k.png' }",
         "frames [2, 9] go past the input's last frame, 5"),
        ("[[shot]]\ninput = 'reel'\noutput = 'out'\ncuts = [3]\nkeyframes = { 0 = 'k.png', 1 = 'k1.png' }",
         "the shot of frames 3 to 5 (between its cuts) has no keyframe"),
        ("[[shot]]\ninput = 'reel'\noutput = 'out'\ncuts = [3]\nkeyframes = { 0 = 'k.png', 3 = 'k.png', 8 = 'k.png' }",
         "keyframe 8 is outside the frames coloured, 0 to 5"),
    ],
)
def test_a_bad_jobs_file_is_one_error_line_before_anything_is_written(tmp_path, capsys, text, message):
    write_shot(tmp_path / "reel", 6, seed=0)
    path = jobs_file(tmp_path, text)
    before = sorted(p.name for p in tmp_path.iterdir())

    assert main(["batch", str(path), "--workers", "1"]) == 1

    err = capsys.readouterr().err.strip().splitlines()
    message = message.replace("{tmp}", str(tmp_path))
    assert len(err) == 1 and err[0].startswith("dvcp batch: error: ") and message in err[0], err
    assert str(path) in err[0] or "two shots" in err[0] or "both write" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output, no summary


def test_a_missing_jobs_file_is_named(tmp_path, capsys):
    assert main(["batch", str(tmp_path / "none.toml")]) == 1
    assert f"dvcp batch: error: the jobs file {tmp_path / 'none.toml'} does not exist" in capsys.readouterr().err


def test_without_ray_installed_the_error_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    write_shot(tmp_path / "reel", 2, seed=0)
    path = jobs_file(tmp_path, f"[[shot]]{GOOD}")
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as when it is not installed
    assert main(["batch", str(path)]) == 1
    assert "dvcp batch: error: dvcp batch runs on Ray, which is not installed: pip install 'dvcp-plugin[cluster]'" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "out").exists()


def test_the_command_exits_1_with_one_line_and_no_traceback(tmp_path):
    write_shot(tmp_path / "reel", 4, seed=0)
    write_key(tmp_path / "key.png", write_shot(tmp_path / "unused", 1, seed=1)[0])
    path = jobs_file(tmp_path, f"[[shot]]{GOOD}cuts = [2, 9]")
    done = subprocess.run(
        [sys.executable, "-m", "dvcp_plugin.cli", "batch", str(path)], capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == f"dvcp batch: error: {path}: shot 1: cut 9 is past the input's last frame, 3"
    assert not (tmp_path / "out").exists() and not (tmp_path / "jobs.summary.json").exists()


def test_the_example_jobs_file_reads_as_documented():
    example = Path(__file__).resolve().parents[2] / "examples" / "archive.toml"
    sample, second, reel = read_jobs(example)
    demo = example.parent.absolute() / "../dvcp-demo"
    assert (sample.name, sample.input, sample.keyframes) == ("sample", demo / "grey", {0: demo / "key.png"})
    assert sample.options.chroma_scale == 0.5 and reel.options.chroma_scale == 1.0
    assert second.frames == (8, 23) and second.output_options.suffix == ".tif"
    assert reel.cuts == (12,) and reel.output == example.parent.absolute() / "../out/batch/reel.mkv"  # not in the demo


def test_a_reel_of_odd_frames_for_a_420_video_is_refused_before_any_work(tmp_path):
    from dvcp_plugin.batch.jobs import JobsError
    from dvcp_plugin.filters.images import write_image

    (tmp_path / "odd").mkdir()
    for k in range(4):
        write_image(tmp_path / "odd" / f"{k}.png", np.full((47, 63), 90 + k, np.uint8))
    write_image(tmp_path / "key.png", np.full((47, 63, 3), 120, np.uint8))
    path = jobs_file(tmp_path, '[[shot]]\ninput = "odd"\noutput = "reel.mov"\ncuts = [2]\n'
                               'keyframes = { 0 = "key.png", 2 = "key.png" }\n')
    with pytest.raises(JobsError) as info:
        plan_shots(read_jobs(path))
    assert str(info.value) == (
        f"{path}: shot 1: the frames are 63x47, and reel.mov is written as yuv420p, whose chroma needs a width "
        "divisible by 2 and a height by 2: write .mkv (lossless 4:4:4) instead, or choose a 4:4:4 pixel format, "
        'e.g. ffmpeg_args = "-pix_fmt yuv444p -crf 16"'
    )
