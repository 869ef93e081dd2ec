"""A video is done only when it reads back whole: a full disk, an ffmpeg that exits 0 on a cut file."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dvcp_plugin.media.video_check import video_problem

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
pytestmark = needs_ffmpeg


def _lavfi_video(path: Path, frames: int) -> Path:
    """A small FFV1 video of ``frames`` frames made by ffmpeg's own test source (not by dvcp)."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=24",
         "-frames:v", str(frames), "-c:v", "ffv1", str(path)],
        check=True,
    )
    return path


def _frame_md5s(video: Path) -> list[str]:
    """The MD5 of each decoded frame (ffmpeg's framemd5), which a container's random IDs do not change."""
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(video), "-f", "framemd5", "-"],
        capture_output=True, text=True, check=True,
    )
    return [line.rsplit(",", 1)[-1].strip() for line in done.stdout.splitlines() if not line.startswith("#")]


def _files_named(folder: Path, stem: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if stem in p.name)


def test_a_whole_video_reads_back_and_a_cut_or_empty_one_does_not(tmp_path):
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg is not None
    video = _lavfi_video(tmp_path / "v.mkv", 16)
    assert video_problem(video, 16, ffmpeg) is None
    assert "holds 16 frames, not the 17 written" in (video_problem(video, 17, ffmpeg) or "")

    cut = tmp_path / "cut.mkv"
    cut.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    assert video_problem(cut, 16, ffmpeg) is not None
    empty = tmp_path / "empty.mkv"
    empty.write_bytes(b"")
    assert video_problem(empty, 16, ffmpeg) == "it is empty (0 bytes)"


def test_a_video_on_a_full_disk_is_an_error_with_ffmpegs_message_and_no_file(
    tmp_path, small_disk, fill_disk, grey_folder, weights, run_dvcp, assert_clean_error
):
    # 8 small frames of smooth footage fit in ffmpeg's buffers: only the trailer fails to be written,
    # and ffmpeg 5 exits 0 after "Error writing trailer ... No space left on device"
    source, key = grey_folder(count=8)
    disk = small_disk(1 << 20)
    fill_disk(disk, 4096)
    done = run_dvcp("colorize", source, "-k", f"0={key}", "-o", disk / "g.mkv", "--weights", weights)
    assert_clean_error(done, "colorize", "No space left on device")
    assert f"ffmpeg did not write {disk / 'g.mkv'} whole" in done.stderr
    assert "wrote" not in done.stdout
    assert _files_named(disk, "g.") == []  # neither the video nor its partial file


def test_an_ffmpeg_that_exits_0_after_cutting_the_file_short_is_caught(
    tmp_path, grey_folder, weights, run_dvcp, assert_clean_error
):
    # an ffmpeg that writes the file, then loses its end and still reports success
    fake = tmp_path / "bin" / "ffmpeg"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        f'"{shutil.which("ffmpeg")}" "$@" || exit $?\n'
        'for last; do :; done\n'
        'case "$last" in *.mkv) truncate -s 4096 "$last" ;; esac\n'
    )
    fake.chmod(0o755)
    source, key = grey_folder(count=8, height=96, width=128)
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}"}
    done = run_dvcp("colorize", source, "-k", f"0={key}", "-o", out / "g.mkv", "--weights", weights, env=env)
    assert_clean_error(done, "colorize", f"ffmpeg did not write {out / 'g.mkv'} whole (it does not decode")
    assert list(out.iterdir()) == []


def test_a_rerun_of_dvcp_batch_makes_again_a_video_that_is_not_whole(tmp_path, grey_folder, weights):
    from dvcp_plugin.batch.colour_part import colour_part
    from dvcp_plugin.batch.work import Part
    from dvcp_plugin.options import Options

    source, key = grey_folder(count=6)
    video = tmp_path / "shot.mkv"
    part = Part("shot", source, None, {0: key}, video, Options(weights=weights))
    assert colour_part(part).status == "done"
    whole = _frame_md5s(video)

    video.write_bytes(b"")  # an earlier run's 0-byte part
    result = colour_part(part)
    assert (result.status, result.written) == ("done", 6)
    assert _frame_md5s(video) == whole and len(whole) == 6
    assert colour_part(part).status == "skipped"  # whole now


def test_a_reel_video_that_is_not_whole_is_planned_again(tmp_path, grey_folder, weights):
    from dvcp_plugin.batch.jobs import read_jobs
    from dvcp_plugin.batch.plan import plan_shots

    source, key = grey_folder(count=6)
    reel = tmp_path / "reel.mkv"
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(
        f'[[shot]]\ninput = "{source}"\noutput = "{reel}"\ncuts = [3]\n'
        f'keyframes = {{ 0 = "{key}", 3 = "{key}" }}\n'
    )
    _lavfi_video(reel, 6)
    assert plan_shots(read_jobs(jobs))[0].status == "skipped"
    reel.write_bytes(reel.read_bytes()[:4096])
    planned = plan_shots(read_jobs(jobs))[0]
    assert planned.status is None and len(planned.parts) == 2
