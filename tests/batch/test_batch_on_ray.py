"""dvcp batch on a real local Ray instance (2 CPU workers) with small generated shots.

Every expected frame comes from a separate ``dvcp colorize`` run of the same shot (cut out by hand
for the parts of a reel). Ray is started once for the module and stopped at its end.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from batch_archive import (
    colorize,
    copy_frames,
    dying_worker,
    frames,
    grey_video,
    needs_ffmpeg,
    summary,
    video_frames,
    write_key,
    write_shot,
)

from dvcp_plugin.batch import worker as worker_module
from dvcp_plugin.cli import main

ray = pytest.importorskip("ray", reason="ray is not installed (the cluster extra: pip install '.[cluster]')")

FRAMES = 8
ONE_SHOT = '[[shot]]\ninput = "shot"\noutput = "out"\nkeyframes = {{ 0 = "key.png" }}\nweights = "{weights}"\n'


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray instance with 2 CPUs for the module; dvcp batch uses it as it finds it."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


def batch(jobs: Path, *args: str) -> int:
    return main(["batch", str(jobs), "--workers", "2", *args])


@pytest.fixture(scope="module")
def archive(tmp_path_factory, weights):
    """An archive run once: two good shots, a reel with cuts, two bad shots."""
    root = tmp_path_factory.mktemp("archive")
    truth = {name: write_shot(root / name, FRAMES, seed) for seed, name in enumerate(["a", "b", "reel", "c"])}
    for name, colour in truth.items():
        write_key(root / f"{name}0.png", colour[0])
    write_key(root / "b2.png", truth["b"][2])
    write_key(root / "reel3.png", truth["reel"][3])
    write_key(root / "reel6.png", truth["reel"][6])
    (root / "broken.mp4").write_bytes(b"not a video" * 100)
    jobs = root / "jobs.toml"
    jobs.write_text(f"""
[defaults]
weights = "{weights}"

[[shot]]
input = "a"
output = "out/a"
keyframes = {{ 0 = "a0.png" }}

[[shot]]
name = "b, frames 2 to 6"
input = "b"
output = "out/b"
frames = [2, 6]
keyframes = {{ 2 = "b2.png" }}

[[shot]]
name = "reel"
input = "reel"
output = "out/reel"
cuts = [3, 6]
keyframes = {{ 0 = "reel0.png", 3 = "reel3.png", 6 = "reel6.png" }}

[[shot]]
name = "missing keyframe"
input = "c"
output = "out/c"
keyframes = {{ 0 = "no-such-key.png" }}

[[shot]]
name = "unreadable input"
input = "broken.mp4"
output = "out/broken"
keyframes = {{ 0 = "c0.png" }}
""")
    code = batch(jobs)
    return root, jobs, code, summary(root / "jobs.summary.json")


def test_good_shots_equal_dvcp_colorize_of_the_same_shot(archive, weights, tmp_path):
    root, _, _, shots = archive
    colorize(root / "a", {0: root / "a0.png"}, tmp_path / "a", weights)
    assert frames(root / "out/a").keys() == {f"f{k:04d}.png" for k in range(FRAMES)}
    for name, expected in frames(tmp_path / "a").items():
        assert np.array_equal(frames(root / "out/a")[name], expected), name

    # frames = [2, 6]: the shot is those frames, under their own names, keyed at its first
    names = [f"f{k:04d}.png" for k in range(2, 7)]
    colorize(copy_frames(root / "b", names, tmp_path / "b-in"), {0: root / "b2.png"}, tmp_path / "b", weights)
    assert frames(root / "out/b").keys() == set(names)
    for name, expected in frames(tmp_path / "b").items():
        assert np.array_equal(frames(root / "out/b")[name], expected), name

    assert shots["out/a"] | {"seconds": 0, "fps": 0} == {
        "name": "out/a", "input": str(root / "a"), "output": str(root / "out/a"), "status": "done",
        "frames": FRAMES, "written": FRAMES, "kept": 0, "missing": 0, "seconds": 0, "fps": 0, "error": None,
    }
    seconds = shots["out/a"]["seconds"]
    assert seconds > 0 and shots["out/a"]["fps"] == pytest.approx(FRAMES / seconds, rel=1e-2)
    assert (shots["b, frames 2 to 6"]["status"], shots["b, frames 2 to 6"]["written"]) == ("done", 5)


def test_a_bad_shot_is_reported_with_its_error_and_the_others_complete(archive, capsys):
    root, _, code, shots = archive
    assert code == 1
    assert shots["missing keyframe"]["status"] == "failed"
    assert "no-such-key.png does not exist" in shots["missing keyframe"]["error"]
    assert shots["unreadable input"]["status"] == "failed"
    assert "cannot read the video" in shots["unreadable input"]["error"]
    assert not (root / "out/c").exists() and not (root / "out/broken").exists()
    assert [shots[n]["status"] for n in ("out/a", "b, frames 2 to 6", "reel")] == ["done"] * 3


def test_a_reel_with_cuts_is_reassembled_in_order(archive, weights, tmp_path):
    root, _, _, shots = archive
    out = frames(root / "out/reel")
    assert list(out) == [f"f{k:04d}.png" for k in range(FRAMES)]
    for first, last in ((0, 2), (3, 5), (6, 7)):  # each shot between the cuts, coloured on its own
        names = [f"f{k:04d}.png" for k in range(first, last + 1)]
        cut = copy_frames(root / "reel", names, tmp_path / f"in{first}")
        colorize(cut, {0: root / f"reel{first}.png"}, tmp_path / f"out{first}", weights)
        for name, expected in frames(tmp_path / f"out{first}").items():
            assert np.array_equal(out[name], expected), name
    assert not (root / "out/reel/.dvcp-parts").exists()  # the staging area is gone
    reel = shots["reel"]
    assert (reel["status"], reel["frames"], reel["written"]) == ("done", FRAMES, FRAMES)
    assert [p["name"] for p in reel["parts"]] == ["reel [0-2]", "reel [3-5]", "reel [6-7]", "reel (reassembly)"]


def test_a_rerun_skips_finished_shots_and_resumes_unfinished_ones(archive):
    root, jobs, _, _ = archive
    folder = root / "out/a"
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.glob("*.png")}
    reel_before = {p.name: p.stat().st_mtime_ns for p in (root / "out/reel").glob("*.png")}
    (folder / "f0003.png").unlink()
    (folder / "f0006.png").unlink()

    assert batch(jobs) == 1  # the two bad shots still fail
    shots = summary(root / "jobs.summary.json")
    assert (shots["out/a"]["status"], shots["out/a"]["written"], shots["out/a"]["kept"]) == ("done", 2, FRAMES - 2)
    assert (shots["b, frames 2 to 6"]["status"], shots["b, frames 2 to 6"]["written"]) == ("skipped", 0)
    assert (shots["reel"]["status"], shots["reel"]["written"]) == ("skipped", 0)
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.glob("*.png")}
    for name, (mtime, data) in before.items():
        assert after[name][1] == data, name  # recomputed frames are the same frames
        if name not in ("f0003.png", "f0006.png"):
            assert after[name][0] == mtime, name  # kept, not rewritten
    assert {p.name: p.stat().st_mtime_ns for p in (root / "out/reel").glob("*.png")} == reel_before


def test_a_reel_part_with_a_changed_frame_is_coloured_again_and_the_others_are_kept(archive):
    root, jobs, _, _ = archive
    reel = root / "out/reel"
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in reel.glob("*.png")}
    (reel / "f0004.png").write_bytes(before["f0004.png"][1][:100])  # truncated, still under its name

    assert batch(jobs) == 1  # the two bad shots still fail
    shot = summary(root / "jobs.summary.json")["reel"]
    assert (shot["status"], shot["written"], shot["kept"]) == ("done", 3, FRAMES - 3)
    assert [(p["name"], p["status"]) for p in shot["parts"]] == [
        ("reel [0-2]", "skipped"), ("reel [3-5]", "done"), ("reel [6-7]", "skipped"), ("reel (reassembly)", "done"),
    ]
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in reel.glob("*.png")}
    assert {name: data for name, (_, data) in after.items()} == {name: data for name, (_, data) in before.items()}
    for name in ("f0000.png", "f0001.png", "f0002.png", "f0006.png", "f0007.png"):
        assert after[name][0] == before[name][0], name  # the parts that matched their record stay as they were
    assert not (reel / ".dvcp-parts").exists()


def test_shots_and_reel_parts_with_keyframes_anywhere_equal_dvcp_colorize(tmp_path, weights):
    colour = write_shot(tmp_path / "grey", FRAMES, seed=5)
    for k in (2, 4, FRAMES - 1):
        write_key(tmp_path / f"k{k}.png", colour[k])
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(f"""
[defaults]
weights = "{weights}"

[[shot]]
input = "grey"
output = "both-ways"
keyframes = {{ 2 = "k2.png", {FRAMES - 1} = "k{FRAMES - 1}.png" }}

[[shot]]
input = "grey"
output = "reel"
cuts = [4]
keyframes = {{ 2 = "k2.png", {FRAMES - 1} = "k{FRAMES - 1}.png" }}
""")
    assert batch(jobs) == 0
    # several keyframes in one shot, none at its first frame: as dvcp colorize colours it
    colorize(tmp_path / "grey", {2: tmp_path / "k2.png", FRAMES - 1: tmp_path / f"k{FRAMES - 1}.png"},
             tmp_path / "reference", weights)
    assert frames(tmp_path / "both-ways").keys() == frames(tmp_path / "reference").keys()
    for name, expected in frames(tmp_path / "reference").items():
        assert np.array_equal(frames(tmp_path / "both-ways")[name], expected), name
    # each part of the reel from the keyframe inside it: 0-1 backward and 3 forward from 2, 4-6 backward from 7
    out = frames(tmp_path / "reel")
    for first, last, key in ((0, 3, 2), (4, FRAMES - 1, FRAMES - 1)):
        names = [f"f{k:04d}.png" for k in range(first, last + 1)]
        cut = copy_frames(tmp_path / "grey", names, tmp_path / f"in{first}")
        colorize(cut, {key - first: tmp_path / f"k{key}.png"}, tmp_path / f"part{first}", weights)
        for name, expected in frames(tmp_path / f"part{first}").items():
            assert np.array_equal(out[name], expected), name


@needs_ffmpeg
def test_video_in_and_out_with_cuts_is_one_video_of_the_parts_in_order(tmp_path, weights, core):
    colour = write_shot(tmp_path / "grey", FRAMES, seed=7)
    video = grey_video(tmp_path / "grey", tmp_path / "reel.mkv")
    write_key(tmp_path / "k1.png", colour[1])
    write_key(tmp_path / "k5.png", colour[5])
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(f"""
[defaults]
weights = "{weights}"

[[shot]]
input = "reel.mkv"
output = "coloured.mkv"
frames = [1, 7]
cuts = [5]
keyframes = {{ 1 = "k1.png", 5 = "k5.png" }}

[[shot]]
input = "reel.mkv"
output = "part5.mkv"
frames = [5, 7]
keyframes = {{ 5 = "k5.png" }}
""")
    assert batch(jobs) == 0
    expected = {}
    for first, last in ((1, 4), (5, 7)):
        names = [f"f{k:04d}.png" for k in range(first, last + 1)]
        cut = copy_frames(tmp_path / "grey", names, tmp_path / f"in{first}")
        colorize(cut, {0: tmp_path / f"k{first}.png"}, tmp_path / f"reference{first}.mkv", weights)
        expected[first] = video_frames(core, tmp_path / f"reference{first}.mkv")
    got = video_frames(core, tmp_path / "coloured.mkv")
    assert len(got) == 7
    for k, (a, b) in enumerate(zip(got, expected[1] + expected[5], strict=True)):
        assert np.array_equal(a, b), k
    for k, (a, b) in enumerate(zip(video_frames(core, tmp_path / "part5.mkv"), expected[5], strict=True)):
        assert np.array_equal(a, b), k
    assert video.is_file() and not list(tmp_path.glob(".*dvcp-parts*"))

    assert batch(jobs) == 0  # a rerun finds both videos done
    shots = summary(tmp_path / "jobs.summary.json")
    assert [(s["status"], s["frames"], s["written"]) for s in shots.values()] == [("skipped", 7, 0), ("skipped", 3, 0)]


def test_shots_on_cuda_without_a_gpu_in_the_cluster_are_refused_before_any_work(tmp_path, weights, capsys):
    write_key(tmp_path / "key.png", write_shot(tmp_path / "shot", 2, seed=0)[0])
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(ONE_SHOT.format(weights=weights))
    assert batch(jobs, "--device", "cuda") == 1
    if torch.cuda.is_available():  # this machine has one: the cluster is asked, and has none
        message = "the Ray cluster (2 CPUs, 0 GPUs) has no room for a worker of 1 CPU(s) and a GPU"
    else:  # refused before Ray is asked
        message = f"{jobs}: shot 1: device 'cuda' asked for, but torch sees no CUDA device"
    assert f"dvcp batch: error: {message}" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.toml", "key.png", "shot"]


def test_a_killed_worker_is_retried_and_its_shot_equals_an_uninterrupted_run(tmp_path, weights, monkeypatch):
    for k in range(2):
        write_key(tmp_path / f"key{k}.png", write_shot(tmp_path / f"shot{k}", FRAMES, seed=10 + k)[0])
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(f'[defaults]\nweights = "{weights}"\n' + "".join(
        f'[[shot]]\ninput = "shot{k}"\noutput = "out{k}"\nkeyframes = {{ 0 = "key{k}.png" }}\n' for k in range(2)
    ))
    # each worker's process exits abruptly after writing its 3rd frame, on its first life only
    monkeypatch.setattr(worker_module, "ShotWorker", dying_worker(after_frames=3))
    assert batch(jobs) == 0
    shots = summary(tmp_path / "jobs.summary.json")
    for k in range(2):
        # the retry on the restarted worker found the 3 frames written before the kill, and wrote the rest
        assert (shots[f"out{k}"]["status"], shots[f"out{k}"]["kept"], shots[f"out{k}"]["written"]) == ("done", 3, 5)
        colorize(tmp_path / f"shot{k}", {0: tmp_path / f"key{k}.png"}, tmp_path / f"reference{k}", weights)
        got, expected = frames(tmp_path / f"out{k}"), frames(tmp_path / f"reference{k}")
        assert got.keys() == expected.keys() and len(got) == FRAMES
        for name in expected:
            assert np.array_equal(got[name], expected[name]), name


def test_a_summary_that_cannot_be_written_is_one_error_before_any_work(tmp_path, weights, capsys):
    write_key(tmp_path / "key.png", write_shot(tmp_path / "shot", 2, seed=0)[0])
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(ONE_SHOT.format(weights=weights))
    (tmp_path / "a-file").write_text("")
    assert batch(jobs, "--summary", str(tmp_path / "a-file" / "summary.json")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    in_the_way = tmp_path / "a-file"
    assert len(err) == 1 and err[0].startswith(f"dvcp batch: error: cannot write the summary {in_the_way}/"), err
    assert f"({tmp_path / 'a-file'})" in err[0]  # the part of the path in the way
    assert not (tmp_path / "out").exists()


def test_a_failed_shot_counts_its_frames_truly_and_goes_on_once_its_input_is_repaired(tmp_path, weights):
    shot = write_shot(tmp_path / "shot", 6, seed=3)
    key = write_key(tmp_path / "key.png", shot[0])
    broken = tmp_path / "shot" / "f0003.png"
    whole = broken.read_bytes()
    broken.write_bytes(whole[:300])  # a copy cut short: the shot stops at its fourth frame
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(
        f'[defaults]\nweights = "{weights}"\n\n[[shot]]\nname = "s"\ninput = "shot"\noutput = "out"\n'
        'keyframes = { 0 = "key.png" }\n'
    )
    report = tmp_path / "summary.json"
    counts = ("status", "frames", "written", "kept", "missing")

    assert batch(jobs, "--summary", str(report)) == 1
    assert [summary(report)["s"][k] for k in counts] == ["failed", 6, 3, 0, 3]
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["f0000.png", "f0001.png", "f0002.png"]
    assert batch(jobs, "--summary", str(report)) == 1  # still broken: the three frames are kept
    assert [summary(report)["s"][k] for k in counts] == ["failed", 6, 0, 3, 3]

    broken.write_bytes(whole)  # repaired: the earlier runs never finished, so the shot is made again
    assert batch(jobs, "--summary", str(report)) == 0
    assert [summary(report)["s"][k] for k in counts] == ["done", 6, 6, 0, 0]
    colorize(tmp_path / "shot", {0: key}, tmp_path / "reference", weights)
    expected = frames(tmp_path / "reference")
    assert {name: a.tobytes() for name, a in frames(tmp_path / "out").items()} == {
        name: a.tobytes() for name, a in expected.items()
    } and len(expected) == 6
