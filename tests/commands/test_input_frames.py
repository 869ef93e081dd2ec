"""Every input frame is read, or the run stops: nothing named like a frame is skipped or half-read."""

from __future__ import annotations

import os
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from dvcp_plugin.filters.images import write_image


def _jpeg_folder(folder: Path, noise_frames, count: int = 6) -> Path:
    folder.mkdir()
    for k, frame in enumerate(noise_frames(count, 48, 64)):
        write_image(folder / f"f{k:02d}.jpg", frame)
    return folder


def _colorize(run_dvcp, source: Path, key: Path, out: Path, weights: Path):
    return run_dvcp("colorize", source, "-k", f"0={key}", "-o", out, "--weights", weights)


def _written(out: Path) -> list[str]:
    return sorted(p.name for p in out.glob("*.png")) if out.exists() else []


def test_a_link_to_nothing_named_like_a_frame_stops_the_run(
    tmp_path, grey_folder, weights, run_dvcp, assert_clean_error
):
    source, key = grey_folder(count=4)
    (source / "f02.png").unlink()
    (source / "f02.png").symlink_to(tmp_path / "moved-away.png")
    done = _colorize(run_dvcp, source, key, tmp_path / "out", weights)
    message = f"{source / 'f02.png'} is a link to {tmp_path / 'moved-away.png'}, which does not exist"
    assert_clean_error(done, "colorize", message)
    assert _written(tmp_path / "out") == []


def test_a_folder_named_like_a_frame_stops_the_run(tmp_path, grey_folder, weights, run_dvcp, assert_clean_error):
    source, key = grey_folder(count=4)
    (source / "f02.png").unlink()
    (source / "f02.png").mkdir()
    done = _colorize(run_dvcp, source, key, tmp_path / "out", weights)
    assert_clean_error(done, "colorize", f"{source / 'f02.png'} is a folder, not an image file")
    assert _written(tmp_path / "out") == []


def _open_as_nobody(folder: Path) -> str:
    """The error of opening ``folder`` as ``dvcp colorize`` does, in a process without root's rights."""
    from dvcp_plugin.errors import DvcpError
    from dvcp_plugin.media.sources import open_input

    if os.geteuid() != 0:
        try:
            open_input(folder, Fraction(24))
        except DvcpError as exc:
            return str(exc)
        return ""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # root reads every file: drop to nobody, as a user's run would be
        try:
            os.close(read)
            os.setgid(65534)
            os.setuid(65534)
            message = _open_as_nobody(folder)
        except BaseException as exc:  # noqa: BLE001 - whatever happened, the parent reports it
            message = f"unexpected {type(exc).__name__}: {exc}"
        os.write(write, message.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        message = pipe.read().decode()
    os.waitpid(child, 0)
    return message


def test_a_frame_without_read_permission_stops_the_run(noise_frames):
    folder = Path(tempfile.mkdtemp(prefix="dvcp-test-perm-"))  # reachable by an unprivileged user
    try:
        folder.chmod(0o755)
        for k, frame in enumerate(noise_frames(4, 48, 64)):
            write_image(folder / f"f{k:02d}.png", frame)
            (folder / f"f{k:02d}.png").chmod(0o644)
        (folder / "f02.png").chmod(0o000)
        assert _open_as_nobody(folder) == (
            f"cannot read image file {folder / 'f02.png'}: permission denied; "
            "every file named like a frame is read: repair or remove it"
        )
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()


@pytest.mark.parametrize("damage", ["random data after the header", "garbage in the middle", "cut short"])
def test_a_damaged_jpeg_frame_stops_the_run_naming_it(
    tmp_path, noise_frames, grey_folder, weights, run_dvcp, assert_clean_error, damage
):
    source = _jpeg_folder(tmp_path / "jpegs", noise_frames)
    _, key = grey_folder(count=1, name="keys")
    broken = source / "f03.jpg"
    data = bytearray(broken.read_bytes())
    scan = data.index(b"\xff\xda") + 2 + int.from_bytes(data[data.index(b"\xff\xda") + 2 :][:2], "big")
    rng = np.random.default_rng(7)
    if damage == "random data after the header":
        data[scan:-2] = rng.integers(0, 256, len(data) - 2 - scan, dtype=np.uint8).tobytes()
    elif damage == "garbage in the middle":
        middle = (scan + len(data)) // 2
        data[middle : middle + 64] = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
    else:
        del data[(scan + len(data)) // 2 :]
    broken.write_bytes(bytes(data))

    done = _colorize(run_dvcp, source, key, tmp_path / "out", weights)
    assert_clean_error(done, "colorize", f"cannot read image file {broken}: its JPEG data is damaged (")
    assert "Corrupt JPEG data" not in done.stderr.replace("its JPEG data is damaged (Corrupt JPEG data", "")
    assert "f03.png" not in _written(tmp_path / "out")


def test_a_keyframe_path_that_is_a_folder_is_reported_as_a_folder(
    tmp_path, grey_folder, weights, run_dvcp, assert_clean_error
):
    source, _ = grey_folder(count=3)
    folder = tmp_path / "key.png"
    folder.mkdir()
    done = _colorize(run_dvcp, source, folder, tmp_path / "out", weights)
    assert_clean_error(done, "colorize", f"the keyframe for frame 0: {folder} is a folder, not an image file")
