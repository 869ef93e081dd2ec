"""`dvcp colorize` on frame folders and video files: bit depth, luma, resume, and clear errors."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dvcp_plugin.cli import main
from dvcp_plugin.filters.images import read_image, write_image
from dvcp_plugin.media import frame_writer

FRAMES = 6


def colour_frames(count: int, height: int = 48, width: int = 64, peak: int = 255) -> np.ndarray:
    """A small moving colour scene: a red square crossing a blue-green gradient, (N,H,W,3) in [0, peak]."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    frames = np.empty((count, height, width, 3))
    for k in range(count):
        frame = np.stack([0.2 + 0.1 * xx / width, 0.3 + 0.4 * yy / height, 0.8 - 0.3 * xx / width], axis=-1)
        x0 = 6 + 4 * k
        frame[12:30, x0 : x0 + 16] = (0.85, 0.2, 0.15)
        frames[k] = frame + 0.04 * np.sin(xx / 3.0 + yy / 5.0)[:, :, None]
    return np.rint(frames.clip(0, 1) * peak)


def luma601(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of RGB samples (..., 3), in the same scale."""
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def write_sequence(folder: Path, frames: np.ndarray, suffix: str) -> list[Path]:
    """Write frames as name-ordered image files ``frame_0000.SUFFIX``, ... and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"frame_{k:04d}{suffix}" for k in range(len(frames))]
    for path, frame in zip(paths, frames, strict=True):
        write_image(path, frame)
    return paths


def colorize(*args: object) -> int:
    return main(["colorize", *map(str, args)])


def one_error(err: str, message: str) -> None:
    """Exactly one `dvcp colorize: error:` line, holding ``message``, and no traceback."""
    errors = [line for line in err.splitlines() if line.startswith("dvcp colorize: error: ")]
    assert len(errors) == 1 and message in errors[0], err
    assert "Traceback" not in err, err


@pytest.mark.parametrize("kind", ["grey", "colour"])
def test_16bit_tiff_sequence_keeps_its_depth_and_its_luma(tmp_path, weights, kind):
    truth = colour_frames(4, peak=65535)
    frames = truth.astype(np.uint16) if kind == "colour" else np.rint(luma601(truth)).astype(np.uint16)
    paths = write_sequence(tmp_path / "in", frames, ".tif")
    write_image(tmp_path / "key.tif", truth[0].astype(np.uint16))

    key = tmp_path / "key.tif"
    assert colorize(tmp_path / "in", "-k", f"0={key}", "-o", tmp_path / "out", "--weights", weights) == 0

    grey = luma601(frames.astype(np.float64)) if kind == "colour" else frames.astype(np.float64)
    for k, path in enumerate(paths):
        out = read_image(tmp_path / "out" / path.name)
        assert out.dtype == np.uint16 and out.shape == (48, 64, 3)
        unclipped = (out > 0).all(axis=2) & (out < 65535).all(axis=2)
        assert unclipped.mean() > 0.9
        # the output's BT.601 luma is the input's: within one 16-bit code (1/257 of an 8-bit code)
        assert np.abs(luma601(out.astype(np.float64)) - grey[k])[unclipped].max() <= 1.0
        assert np.ptp(out.astype(np.int64) - grey[k][:, :, None].astype(np.int64)) > 5000  # in colour, not grey
    key_out = read_image(tmp_path / "out" / paths[0].name).astype(np.int64)
    assert np.abs(key_out - truth[0]).max() <= 300  # frame 0 shows the keyframe's colours


def test_8bit_png_sequence_gives_8bit_png(tmp_path, weights):
    truth = colour_frames(3)
    write_sequence(tmp_path / "in", np.rint(luma601(truth)).astype(np.uint8), ".png")
    write_image(tmp_path / "key.png", truth[0].astype(np.uint8))
    key = tmp_path / "key.png"
    assert colorize(tmp_path / "in", "-k", f"0={key}", "-o", tmp_path / "out", "--weights", weights) == 0
    out = read_image(tmp_path / "out" / "frame_0002.png")
    assert out.dtype == np.uint8 and out.shape == (48, 64, 3)


def test_keyframes_anywhere_colour_the_frames_before_after_and_between_them(tmp_path, weights):
    truth = colour_frames(FRAMES)
    write_sequence(tmp_path / "in", np.rint(luma601(truth)).astype(np.uint8), ".png")
    for n in (2, FRAMES - 1):
        write_image(tmp_path / f"key{n}.png", truth[n].astype(np.uint8))
    keys = [arg for n in (2, FRAMES - 1) for arg in ("-k", f"{n}={tmp_path / f'key{n}.png'}")]
    assert colorize(tmp_path / "in", *keys, "-o", tmp_path / "out", "--weights", weights) == 0
    frames = [read_image(tmp_path / "out" / f"frame_{k:04d}.png").astype(np.int64) for k in range(FRAMES)]
    for n in (2, FRAMES - 1):  # the keyframes show their own colours
        assert np.abs(frames[n] - truth[n]).max() <= 3
    for n in (0, 3):  # frame 0 from the keyframe after it; frame 3 from both
        assert np.ptp(frames[n] - luma601(truth[n])[:, :, None]) > 50  # in colour, not grey


def _grey_sequence(tmp_path: Path) -> tuple[Path, Path]:
    truth = colour_frames(FRAMES)
    write_sequence(tmp_path / "in", np.rint(luma601(truth)).astype(np.uint8), ".png")
    write_image(tmp_path / "key.png", truth[0].astype(np.uint8))
    return tmp_path / "in", tmp_path / "key.png"


def _snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.glob("*.png"))}


def test_rerun_writes_only_missing_frames_and_ignores_stale_temporaries(tmp_path, weights, capsys):
    source, key = _grey_sequence(tmp_path)
    out = tmp_path / "out"
    assert colorize(source, "-k", f"0={key}", "-o", out, "--weights", weights) == 0
    first = _snapshot(out)
    assert len(first) == FRAMES

    # a crash: frames 2 and 4 are missing, and frame 4 left a half-written temporary behind
    (out / "frame_0002.png").unlink()
    (out / "frame_0004.png").unlink()
    (out / ".frame_0004.partial.png").write_bytes(b"\x89PNG half a frame")
    capsys.readouterr()
    assert colorize(source, "-k", f"0={key}", "-o", out, "--weights", weights) == 0
    assert "wrote 2 frames" in capsys.readouterr().out

    second = _snapshot(out)
    assert second.keys() == first.keys()
    for name in ("frame_0000.png", "frame_0001.png", "frame_0003.png", "frame_0005.png"):
        assert second[name][0] == first[name][0]  # kept, not rewritten
    for name in ("frame_0002.png", "frame_0004.png"):
        assert second[name][1] == first[name][1]  # recomputed identically
    assert not list(out.glob(".*.partial*"))


def test_interrupted_run_resumes_where_it_stopped(tmp_path, weights, monkeypatch, capsys):
    source, key = _grey_sequence(tmp_path)
    out = tmp_path / "out"
    write = frame_writer.FrameFolder.write
    calls = []

    def interrupted_write(self, n, frame):
        calls.append(n)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C while the third frame is being written
        write(self, n, frame)

    monkeypatch.setattr(frame_writer.FrameFolder, "write", interrupted_write)
    assert colorize(source, "-k", f"0={key}", "-o", out, "--weights", weights) == 130
    assert sorted(p.name for p in out.glob("*.png")) == ["frame_0000.png", "frame_0001.png"]

    monkeypatch.setattr(frame_writer.FrameFolder, "write", write)
    capsys.readouterr()
    assert colorize(source, "-k", f"0={key}", "-o", out, "--weights", weights) == 0
    assert "wrote 4 frames to" in capsys.readouterr().out
    assert len(list(out.glob("*.png"))) == FRAMES and not list(out.glob(".*.partial*"))


def test_rerun_with_another_keyframe_makes_its_shot_again(tmp_path, weights, capsys):
    source, key = _grey_sequence(tmp_path)
    out = tmp_path / "out"
    assert colorize(source, "-k", f"0={key}", "-o", out, "--weights", weights) == 0
    before = _snapshot(out)
    recoloured = read_image(key)[:, :, ::-1].copy()
    write_image(key, recoloured)
    capsys.readouterr()

    assert colorize(source, "-k", f"0={key}", "-o", out, "--weights", weights) == 0  # a folder is one shot
    assert f"wrote {FRAMES} frames to {out} ({FRAMES} made again: the keyframes of their shots changed)" in (
        capsys.readouterr().out
    )
    assert colorize(source, "-k", f"0={key}", "-o", tmp_path / "fresh", "--weights", weights) == 0
    after = _snapshot(out)
    assert {name: data for name, (_, data) in after.items()} == {
        name: data for name, (_, data) in _snapshot(tmp_path / "fresh").items()
    }
    assert after["frame_0000.png"][1] != before["frame_0000.png"][1]


def test_keyframe_of_another_size_fails_and_writes_nothing(tmp_path, weights, capsys):
    source, _ = _grey_sequence(tmp_path)
    write_image(tmp_path / "small.png", colour_frames(1, 24, 32)[0].astype(np.uint8))
    out = tmp_path / "out"
    assert colorize(source, "-k", f"0={tmp_path / 'small.png'}", "-o", out, "--weights", weights) == 1
    err = capsys.readouterr().err
    assert "small.png is 32x24 but the clip is 64x48" in err
    assert not out.exists()


def _mixed_sizes(folder: Path) -> None:
    write_sequence(folder, np.zeros((2, 48, 64), np.uint8), ".png")
    write_image(folder / "frame_0002.png", np.zeros((48, 60), np.uint8))


def _mixed_kinds(folder: Path) -> None:
    write_sequence(folder, np.zeros((2, 48, 64), np.uint8), ".png")
    write_image(folder / "frame_0002.png", np.zeros((48, 64, 3), np.uint8))


def _not_a_video(path: Path) -> None:
    path.write_bytes(b"this is not a video" * 100)


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("missing", lambda p: None, "missing does not exist"),
        ("empty", lambda p: p.mkdir(), "holds no images"),
        ("mixed", _mixed_sizes, "frame_0002.png is 60x48 but frame_0000.png is 64x48"),
        ("kinds", _mixed_kinds, "frame_0002.png is colour but frame_0000.png is grey"),
        ("broken.mp4", _not_a_video, "cannot read the video"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path, weights, capsys, name, make, message):
    make(tmp_path / name)
    write_image(tmp_path / "key.png", colour_frames(1)[0].astype(np.uint8))
    code = colorize(tmp_path / name, "-k", f"0={tmp_path / 'key.png'}", "-o", tmp_path / "out", "--weights", weights)
    assert code == 1
    one_error(capsys.readouterr().err, message)
    assert not (tmp_path / "out").exists()


def test_frame_of_another_depth_mid_sequence_names_the_file(tmp_path, weights, capsys):
    source, key = _grey_sequence(tmp_path)
    write_image(source / "frame_0003.png", np.zeros((48, 64), np.uint16))
    assert colorize(source, "-k", f"0={key}", "-o", tmp_path / "out", "--weights", weights) == 1
    one_error(
        capsys.readouterr().err,
        "frame_0003.png is a 64x48 16-bit grey image but the first frame is 64x48 8-bit grey",
    )


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_video_output_through_ffmpeg_reads_back_with_every_frame(tmp_path, weights, capsys, core):
    source, key = _grey_sequence(tmp_path)
    video = tmp_path / "out.mkv"
    assert colorize(source, "-k", f"0={key}", "-o", video, "--weights", weights) == 0
    assert video.is_file() and not list(tmp_path.glob("*.partial*"))
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
         "-show_entries", "stream=nb_read_frames,width,height", "-of", "csv=p=0", str(video)],
        capture_output=True, text=True, check=True,
    )
    assert probe.stdout.strip() == f"64,48,{FRAMES}"

    # lossless FFV1: the luma read back is the input's, bit-exact; bestsource reads the file
    clip = core.bs.VideoSource(source=str(video))
    assert clip.num_frames == FRAMES and clip.format.name == "YUV444P8"
    for k in (0, FRAMES - 1):
        assert np.array_equal(np.asarray(clip.get_frame(k)[0]), read_image(source / f"frame_{k:04d}.png"))

    # an existing video is not replaced without --overwrite
    assert colorize(source, "-k", f"0={key}", "-o", video, "--weights", weights) == 1
    one_error(capsys.readouterr().err, "already exists; use --overwrite")


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_video_input_is_read_through_bestsource(tmp_path, weights):
    source, key = _grey_sequence(tmp_path)
    video = tmp_path / "grey.mkv"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-framerate", "24", "-i", str(source / "frame_%04d.png"), "-c:v", "ffv1", str(video)],
        check=True,
    )
    out = tmp_path / "out"
    assert colorize(video, "-k", f"0={key}", "-o", out, "--weights", weights) == 0
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == [f"{k:06d}.png" for k in range(FRAMES)]
    assert read_image(out / names[0]).shape == (48, 64, 3)
