"""`dvcp demo` makes its shot, colours it and writes what it promises; it fails clearly without weights."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np

from dvcp_plugin.cli import main
from dvcp_plugin.commands import demo
from dvcp_plugin.commands.demo import FRAMES, HEIGHT, WIDTH
from dvcp_plugin.evaluation import methods, metrics, protocol
from dvcp_plugin.evaluation.methods import BASELINES, colour_shot
from dvcp_plugin.evaluation.metrics import mean_psnr as psnr
from dvcp_plugin.filters.images import read_image
from dvcp_plugin.media.demo_shot import make_shot
from dvcp_plugin.models.color import grey_u8 as grey_of


def test_demo_writes_frames_video_contact_sheet_and_scores(tmp_path, weights, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--weights", str(weights)]) == 0
    printed = capsys.readouterr().out

    shot = make_shot(FRAMES, HEIGHT, WIDTH)
    for folder in ("grey", "truth", "colorized"):
        assert len(list((out / folder).glob("*.png"))) == FRAMES
    assert np.array_equal(read_image(out / "key.png"), shot[0])
    assert np.array_equal(read_image(out / "grey" / "00005.png"), grey_of(shot)[5])
    result = np.stack([read_image(out / "colorized" / f"{k:05d}.png") for k in range(FRAMES)])
    sheet = read_image(out / "contact_sheet.png")
    assert sheet.shape == (4 * (HEIGHT + 18), 3 * WIDTH + 12, 3)  # grey | dvcp | truth
    flow, key_copy = colour_shot(BASELINES["flow"], shot), colour_shot(BASELINES["key"], shot)
    row = 3 * (HEIGHT + 18) + 18 + HEIGHT // 2  # the middle line of frame 23's row
    assert np.array_equal(sheet[row, WIDTH + 6 : 2 * WIDTH + 6], result[FRAMES - 1, HEIGHT // 2])
    assert np.array_equal(sheet[row, 2 * (WIDTH + 6) :], shot[FRAMES - 1, HEIGHT // 2])
    expected = (f"dvcp {psnr(result, shot):.2f} dB, DIS flow propagation {psnr(flow, shot):.2f} dB, "
                f"key-frame chroma copied {psnr(key_copy, shot):.2f} dB; "
                f"dvcp - flow {psnr(result, shot) - psnr(flow, shot):+.2f} dB")
    assert expected in printed
    assert str(out / "contact_sheet.png") in printed
    if shutil.which("ffprobe"):
        assert str(out / "colorized.mp4") in printed
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
             "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(out / "colorized.mp4")],
            capture_output=True, text=True, check=True,
        )
        assert probe.stdout.strip() == str(FRAMES)


def test_demo_shot_moves_and_has_colour():
    shot = make_shot(8, 64, 96, seed=1)
    assert shot.shape == (8, 64, 96, 3) and shot.dtype == np.uint8
    assert np.abs(shot[7].astype(int) - shot[0].astype(int)).mean() > 5  # objects and background move
    assert np.ptp(shot[0].astype(int) - shot[0].mean(axis=2, keepdims=True).astype(int)) > 100  # saturated colour
    assert np.array_equal(make_shot(8, 64, 96, seed=1), shot)


def test_key_chroma_copy_keeps_the_grey_and_the_keyframe_is_exact():
    shot = make_shot(3, 32, 48)
    baseline = colour_shot(BASELINES["key"], shot)
    assert np.abs(baseline[0].astype(int) - shot[0].astype(int)).max() <= 2
    assert psnr(baseline, shot) < psnr(shot, shot)


def test_demo_scores_with_the_baselines_and_the_psnr_of_the_evaluation():
    assert demo.mean_psnr is metrics.mean_psnr and protocol.psnr is metrics.psnr
    assert demo.colour_shot is methods.colour_shot and demo.BASELINES is protocol.BASELINES
    shot = make_shot(3, 32, 48)
    baseline = colour_shot(BASELINES["key"], shot)
    assert psnr(baseline, shot) == np.mean([metrics.psnr(baseline[k], shot[k]) for k in (1, 2)])


def test_demo_without_weights_says_how_to_get_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DVCP_WEIGHTS", str(tmp_path / "absent.pt"))
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 1
    err = capsys.readouterr().err
    assert f"dvcp demo: error: no dvcp weights found at {tmp_path / 'absent.pt'}" in err
    assert "dvcp train" in err and "Traceback" not in err
    assert not (tmp_path / "demo").exists()


def test_demo_does_not_touch_files_it_did_not_write(tmp_path, weights, dvcp_in_process, assert_clean_error):
    out = tmp_path / "mine"
    (out / "truth").mkdir(parents=True)
    (out / "truth" / "scan.png").write_bytes(b"a restorer's own file")
    done = dvcp_in_process("demo", "--out", out, "--weights", weights)
    assert_clean_error(done, "demo", f"--out {out} holds truth/scan.png, which dvcp demo did not write")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["truth", "truth/scan.png"]
    assert (out / "truth" / "scan.png").read_bytes() == b"a restorer's own file"


def test_demo_clears_what_it_wrote_and_leaves_the_rest(tmp_path, weights, dvcp_in_process):
    out = tmp_path / "dvcp-demo"
    for folder in ("grey", "truth", "colorized"):
        (out / folder).mkdir(parents=True)
        (out / folder / "00003.png").write_bytes(b"an earlier demo frame")
    (out / "colorized" / ".00004.partial.png").write_bytes(b"a stopped demo's frame")
    (out / "colorized.mp4").write_bytes(b"an earlier demo's video")
    (out / "batch" / "sample").mkdir(parents=True)  # what another command wrote here
    (out / "batch" / "sample" / "00000.png").write_bytes(b"a batch frame")
    (out / "notes.txt").write_text("notes")
    done = dvcp_in_process("demo", "--out", out, "--weights", weights)
    assert done.returncode == 0, done.stderr
    assert (out / "batch" / "sample" / "00000.png").read_bytes() == b"a batch frame"
    assert (out / "notes.txt").read_text() == "notes"
    assert not (out / "colorized" / ".00004.partial.png").exists()
    shot = make_shot(FRAMES, HEIGHT, WIDTH)
    assert np.array_equal(read_image(out / "truth" / "00003.png"), shot[3])
    assert np.array_equal(read_image(out / "grey" / "00003.png"), grey_of(shot)[3])
    video = out / "colorized.mp4"
    assert not video.exists() or video.read_bytes() != b"an earlier demo's video"
