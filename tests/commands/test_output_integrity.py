"""Frame folders hold only whole frames of one run: short writes, full disks, changed frames and inputs."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from dvcp_plugin.cli import main
from dvcp_plugin.filters.images import read_image, write_image


def colorize(*args: object) -> int:
    return main(["colorize", *map(str, args)])


def _frames(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def _hidden_leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial") or ".partial." in p.name)


def test_the_record_holds_each_frames_size_and_checksum(tmp_path, grey_folder, weights):
    from dvcp_plugin.media.manifest import FrameRecord, RunRecord

    source, key = grey_folder(count=3)
    assert colorize(source, "-k", f"0={key}", "-o", tmp_path / "out", "--weights", weights) == 0
    frames = _frames(tmp_path / "out")
    assert RunRecord(tmp_path / "out").recorded_frames() == {
        name: FrameRecord(name, len(data), hashlib.sha256(data).hexdigest()) for name, data in frames.items()
    }


def test_a_truncated_or_changed_frame_is_written_again(tmp_path, grey_folder, weights, capsys):
    source, key = grey_folder()
    out = tmp_path / "out"
    assert colorize(source, "-k", f"0={key}", "-o", out, "--weights", weights) == 0
    first = _frames(out)

    # a full disk once left f03.png at 4096 bytes; another frame was edited in place, same size
    (out / "f03.png").write_bytes(first["f03.png"][:4096])
    edited = bytearray(first["f04.png"])
    edited[-20] ^= 0xFF
    (out / "f04.png").write_bytes(bytes(edited))
    capsys.readouterr()
    assert colorize(source, "-k", f"0={key}", "-o", out, "--weights", weights) == 0
    printed = capsys.readouterr().out
    assert "wrote 2 frames" in printed and "4 kept from an earlier run" in printed
    assert "f03.png, f04.png" in printed
    assert _frames(out) == first
    assert not _hidden_leftovers(out)


def test_the_same_input_copied_elsewhere_resumes(tmp_path, grey_folder, weights, capsys):
    source, key = grey_folder(count=3)
    out = tmp_path / "out"
    assert colorize(source, "-k", f"0={key}", "-o", out, "--weights", weights) == 0
    (out / "f01.png").unlink()
    moved = shutil.copytree(source, tmp_path / "moved")  # new paths and time stamps, same content
    capsys.readouterr()
    assert colorize(moved, "-k", f"0={key}", "-o", out, "--weights", weights) == 0
    assert "wrote 1 frames" in capsys.readouterr().out


def test_a_changed_input_is_refused_and_nothing_is_written(tmp_path, grey_folder, weights, capsys, noise_frames):
    source, key = grey_folder()
    out = tmp_path / "out"
    assert colorize(source, "-k", f"0={key}", "-o", out, "--weights", weights) == 0
    (out / "f02.png").unlink()
    (out / "f05.png").unlink()
    before = _frames(out)
    write_image(source / "f01.png", noise_frames(1, 48, 64, seed=9)[0])  # new footage under an old name
    capsys.readouterr()
    assert colorize(source, "-k", f"0={key}", "-o", out, "--weights", weights) == 1
    err = capsys.readouterr().err
    assert "the input differs: f01.png changed" in err and "--overwrite" in err
    assert _frames(out) == before  # the two missing frames were not made from the new input


def test_two_input_files_with_one_name_are_an_error_naming_both(
    tmp_path, grey_folder, weights, noise_frames, run_dvcp, assert_clean_error
):
    source, key = grey_folder(count=3)
    write_image(source / "f01.tif", noise_frames(1, 48, 64, seed=4)[0])
    done = run_dvcp("colorize", source, "-k", f"0={key}", "-o", tmp_path / "out", "--weights", weights)
    assert_clean_error(done, "colorize", f"{source / 'f01.png'} and {source / 'f01.tif'} have the same name")
    assert not (tmp_path / "out").exists()


def test_frame_record_skips_a_line_cut_short_by_a_crash(tmp_path):
    from dvcp_plugin.media.manifest import FRAMES_FILE, SETTINGS_FILE, FrameRecord, RunRecord

    record = RunRecord(tmp_path)
    record.start({"frames": 2}, [FrameRecord("a.png", 3, "00")])
    record.add(FrameRecord("b.png", 4, "11"))
    record.close()
    with open(tmp_path / FRAMES_FILE, "a") as handle:
        handle.write('{"name": "c.png", "si')
    assert sorted(record.recorded_frames()) == ["a.png", "b.png"]
    assert json.loads((tmp_path / SETTINGS_FILE).read_text()) == {"frames": 2}


@pytest.mark.parametrize("free_pages", [2, 6])
def test_a_full_disk_leaves_only_whole_frames_and_a_rerun_finishes(
    tmp_path, small_disk, fill_disk, grey_folder, weights, capsys, free_pages
):
    # frames of 4-8 kB: with two pages free, a write that checks nothing leaves a 4096-byte frame
    source, key = grey_folder(count=6)
    reference = tmp_path / "reference"
    assert colorize(source, "-k", f"0={key}", "-o", reference, "--weights", weights) == 0
    assert all(4096 < p.stat().st_size < 8192 for p in reference.glob("*.png"))
    disk = small_disk(256 * 1024)
    filler = fill_disk(disk, free_pages * 4096)
    out = disk / "out"
    capsys.readouterr()

    assert colorize(source, "-k", f"0={key}", "-o", out, "--weights", weights) == 1
    written = _frames(out)
    assert len(written) < 6
    for name in written:  # every file under a frame's name is whole: the reference frame, byte for byte
        assert written[name] == (reference / name).read_bytes(), name
    assert not _hidden_leftovers(out)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("dvcp colorize: error:")]
    assert len(errors) == 1 and "No space left on device" in errors[0] and "Traceback" not in err

    filler.unlink()
    assert colorize(source, "-k", f"0={key}", "-o", out, "--weights", weights) == 0
    assert _frames(out) == _frames(reference)
    assert not _hidden_leftovers(out)


def test_a_disk_full_before_the_run_is_a_clean_error_and_leaves_no_partial_record(
    tmp_path, small_disk, fill_disk, grey_folder, weights, run_dvcp, assert_clean_error
):
    source, key = grey_folder(count=3)
    disk = small_disk(64 * 1024)
    (disk / "out").mkdir()
    fill_disk(disk, 0)
    done = run_dvcp("colorize", source, "-k", f"0={key}", "-o", disk / "out", "--weights", weights)
    assert_clean_error(done, "colorize", "No space left on device")
    assert sorted(p.name for p in (disk / "out").iterdir()) == []


def test_a_frame_written_short_is_never_left_under_its_name(tmp_path, grey_folder, weights, monkeypatch, capsys):
    from dvcp_plugin.filters import files

    source, key = grey_folder(count=4)
    out = tmp_path / "out"
    real_write = files.os.write
    calls = []

    def disk_fills(fd, data):  # the third frame's write stops after 4096 bytes
        calls.append(fd)
        if len(calls) >= 5:
            return 0
        return real_write(fd, data[:4096]) if len(calls) == 4 else real_write(fd, data)

    monkeypatch.setattr(files.os, "write", disk_fills)
    assert colorize(source, "-k", f"0={key}", "-o", out, "--weights", weights) == 1
    assert "short write" in capsys.readouterr().err
    monkeypatch.setattr(files.os, "write", real_write)
    for path in out.glob("*.png"):
        assert read_image(path).shape == (48, 64, 3)  # whole frames only
    assert not _hidden_leftovers(out)


def test_an_unfinished_run_stopped_by_a_damaged_frame_is_made_again_once_the_frame_is_repaired(
    tmp_path, grey_folder, weights, capsys
):
    source, key = grey_folder(count=6)
    reference = tmp_path / "reference"
    assert colorize(source, "-k", f"0={key}", "-o", reference, "--weights", weights) == 0
    whole = (source / "f03.png").read_bytes()
    (source / "f03.png").write_bytes(whole[:300])
    out = tmp_path / "out"
    assert colorize(source, "-k", f"0={key}", "-o", out, "--weights", weights) == 1
    assert sorted(_frames(out)) == ["f00.png", "f01.png", "f02.png"]

    (source / "f03.png").write_bytes(whole)
    capsys.readouterr()
    assert colorize(source, "-k", f"0={key}", "-o", out, "--weights", weights) == 0
    printed = capsys.readouterr().out
    assert "wrote 6 frames" in printed
    assert "every frame made again: the earlier run had not finished and differed " in printed
    assert "(the input differs: f03.png changed)" in printed
    assert _frames(out) == _frames(reference)
