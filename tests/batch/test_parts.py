"""One part on its own (no Ray): what its output and its reel's folder record, and when a rerun may keep it."""

from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction

from batch_archive import write_key, write_shot

from dvcp_plugin.batch.colour_part import colour_part
from dvcp_plugin.batch.reels import LEDGER, assemble, part_output
from dvcp_plugin.batch.work import Part, Reel
from dvcp_plugin.filters.images import write_image
from dvcp_plugin.media.sources import open_input
from dvcp_plugin.models.color import grey_u8
from dvcp_plugin.options import Options
from dvcp_plugin.service import run_settings


def test_a_reel_folder_records_each_part_recolours_a_rekeyed_one_and_refuses_other_settings(tmp_path, weights):
    colour = write_shot(tmp_path / "reel", 6, seed=5)
    reel_output = tmp_path / "out"
    part = Part(
        name="reel [2-5]", input=tmp_path / "reel", frames=(2, 5), output=part_output(reel_output, 2, 5),
        keyframes={0: write_key(tmp_path / "k2.png", colour[2])}, options=Options(weights=weights), reel=reel_output,
    )
    assert (colour_part(part).status, assemble(Reel(reel_output, (part,))).status) == ("done", "done")
    entry = json.loads((reel_output / LEDGER).read_text())["000002-000005"]
    source = open_input(tmp_path / "reel", Fraction(24)).frames(2, 5)
    assert entry["settings"] == run_settings(source, part.keyframes, part.options)
    assert [frame["name"] for frame in entry["frames"]] == [f"f{k:04d}.png" for k in range(2, 6)]

    assert colour_part(part).status == "skipped"  # in its reel, every frame as recorded
    other_key = replace(part, keyframes={0: write_key(tmp_path / "k3.png", colour[3])})
    assert colour_part(other_key).status == "done"  # another keyframe: the part is coloured again
    assert assemble(Reel(reel_output, (other_key,))).status == "done"
    entry = json.loads((reel_output / LEDGER).read_text())["000002-000005"]
    assert entry["settings"] == run_settings(source, other_key.keyframes, part.options)
    other_scale = replace(other_key, options=Options(weights=weights, chroma_scale=1.0))
    refused = colour_part(other_scale)
    assert refused.status == "failed"
    assert f"{reel_output} holds frames 000002-000005 made with other settings (chroma_scale differs)" in refused.error


def test_a_range_of_a_frame_folder_is_known_by_its_own_frames(tmp_path, weights):
    colour = write_shot(tmp_path / "shot", 6, seed=6)
    part = Part(
        name="shot [1-3]", input=tmp_path / "shot", frames=(1, 3), output=tmp_path / "out",
        keyframes={0: write_key(tmp_path / "k1.png", colour[1])}, options=Options(weights=weights),
    )
    assert (colour_part(part).status, colour_part(part).status) == ("done", "skipped")
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["f0001.png", "f0002.png", "f0003.png"]

    write_image(tmp_path / "shot" / "f0005.png", grey_u8(colour[0]))  # outside the range: not this shot's input
    kept = colour_part(part)
    assert (kept.status, kept.kept) == ("skipped", 3)
    write_image(tmp_path / "shot" / "f0002.png", grey_u8(colour[0]))  # inside: the frames would mix two inputs
    refused = colour_part(part)
    assert refused.status == "failed" and "the input differs: f0002.png changed" in refused.error


def test_a_failed_part_keeps_its_traceback_and_a_bug_says_it_is_one(tmp_path, weights, monkeypatch):
    from dvcp_plugin.batch import colour_part as colour_part_module
    from dvcp_plugin.batch.jobs import ShotJob
    from dvcp_plugin.batch.plan import PlannedShot
    from dvcp_plugin.batch.summary import shot_record

    colour = write_shot(tmp_path / "shot", 3, seed=7)
    part = Part(
        name="shot", input=tmp_path / "shot", frames=None, output=tmp_path / "out",
        keyframes={0: tmp_path / "missing.png"}, options=Options(weights=weights),
    )
    mistake = colour_part(part)  # a keyframe that is not there: the user's to fix
    assert mistake.status == "failed" and "missing.png does not exist" in mistake.error
    assert not mistake.error.startswith("internal error") and "Traceback" in mistake.traceback

    def a_bug(*args, **kwargs):
        raise ZeroDivisionError("a bug while colouring")

    monkeypatch.setattr(colour_part_module, "colorize_into", a_bug)
    bug = colour_part(replace(part, keyframes={0: write_key(tmp_path / "k.png", colour[0])}))
    assert bug.status == "failed"
    assert bug.error.startswith("internal error (a bug") and "ZeroDivisionError: a bug while colouring" in bug.error
    assert "in a_bug" in bug.traceback

    job = ShotJob("shot", "jobs.toml: shot 1", part.input, part.output, part.keyframes)
    record = shot_record(PlannedShot(job, (part,)), [bug]).to_json()
    assert record["status"] == "failed" and record["error"] == bug.error and "in a_bug" in record["traceback"]
