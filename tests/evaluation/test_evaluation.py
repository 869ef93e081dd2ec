"""dvcp eval: the metrics, the evaluation protocol (docs/TRAINING.md) with dvcp and the baselines, what it writes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from dvcp_plugin.cli import main
from dvcp_plugin.evaluation.methods import BASELINES, dvcp_method, output_rgb
from dvcp_plugin.evaluation.metrics import (
    PSNR_CAP_DB,
    RETENTION_FRAMES,
    chroma_psnr,
    colour_drift,
    colour_retention,
    mean_chroma,
    psnr,
    ssim,
)
from dvcp_plugin.evaluation.protocol import evaluate, evaluate_sequence
from dvcp_plugin.evaluation.report import summarise
from dvcp_plugin.evaluation.scores import MethodScores, SequenceScores
from dvcp_plugin.models.color import grey_u8, luma_chroma_to_rgb, rgb_to_luma_chroma
from dvcp_plugin.options import EngineOptions
from dvcp_plugin.runtime.engine import Engine
from dvcp_plugin.runtime.sequential import propagate_shot
from dvcp_plugin.stages.build import untrained_weights
from dvcp_plugin.stages.weights import save_weights
from dvcp_plugin.training.data import DataError, find_sequences, frame_planes, load_frame
from dvcp_plugin.training.degradations import parse_degradations

WIDTH = 96  # of the tiny sequences (tests/conftest.py)
GAP = 6  # pixels between the columns of a contact sheet


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return save_weights(tmp_path_factory.mktemp("w") / "w.pt", untrained_weights(0))


def test_psnr_matches_hand_computation():
    truth = np.full((4, 6, 3), 100, np.uint8)
    output = truth.copy()
    output[1, 2, 0] = 110  # one error of 10 over 72 values: MSE = 100 / 72
    assert psnr(output, truth) == pytest.approx(10 * math.log10(255**2 * 72 / 100))
    assert psnr(truth, truth) == PSNR_CAP_DB
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(truth, truth[:2])


def test_chroma_psnr_matches_hand_computation():
    truth = torch.zeros(2, 4, 5)
    chroma = truth.clone()
    chroma[1, 2, 3] = 10 / 255  # one error of 10 levels over 40 values: MSE = 100 / 40
    assert chroma_psnr(chroma, truth) == pytest.approx(10 * math.log10(255**2 * 40 / 100))
    assert chroma_psnr(truth, truth) == PSNR_CAP_DB
    with pytest.raises(ValueError, match="differ in shape"):
        chroma_psnr(truth, truth[:, :2])


def test_ssim_is_one_for_identical_images_and_lower_otherwise():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    assert ssim(image, image) == pytest.approx(1.0, abs=1e-5)
    slightly, badly = (
        np.clip(image.astype(int) + rng.integers(-n, n + 1, image.shape), 0, 255).astype(np.uint8) for n in (10, 80)
    )
    assert 0.0 < ssim(badly, image) < ssim(slightly, image) < 0.999


def test_mean_chroma_is_the_mean_cbcr_magnitude():
    grey = np.full((8, 10, 3), 128, np.uint8)
    assert mean_chroma(grey) == 0.0
    chroma = torch.tensor([0.12, -0.16]).view(1, 2, 1, 1).expand(1, 2, 8, 10)  # |CbCr| = 0.2
    rgb = luma_chroma_to_rgb(torch.full((1, 1, 8, 10), 0.5), chroma)
    image = (rgb[0] * 255).round().byte().permute(1, 2, 0).numpy()
    assert mean_chroma(image) == pytest.approx(0.2, abs=0.003)


def test_colour_retention_compares_the_last_scored_frames():
    truth = [0.2] * 15
    half = [0.5] * 5 + [0.1] * RETENTION_FRAMES  # early frames do not count
    assert colour_retention(half, truth) == pytest.approx(0.5)
    assert colour_retention([0.3, 0.1], [0.2, 0.2]) == pytest.approx(1.0)  # fewer frames than the window
    assert colour_retention([0.1] * 3, [0.0] * 3) is None  # no colour in the truth
    with pytest.raises(ValueError, match="same frames"):
        colour_retention([0.1], [0.1, 0.1])


def test_colour_drift_is_the_mean_absolute_log_retention():
    assert colour_drift([0.5]) == pytest.approx(math.log(2))
    assert colour_drift([0.5, 2.0, 1.0]) == pytest.approx(2 * math.log(2) / 3)
    assert colour_drift([0.5, None]) == pytest.approx(math.log(2))
    assert colour_drift([None]) is None


def still_sequence(folder, frames: int):
    """A sequence folder of one colour picture repeated ``frames`` times."""
    rng = np.random.default_rng(7)
    picture = rng.integers(30, 220, (4, 6, 3)).repeat(8, axis=0).repeat(8, axis=1).astype(np.uint8)
    folder.mkdir(parents=True)
    for k in range(frames):
        Image.fromarray(picture).save(folder / f"{k:05d}.png")
    return find_sequences([folder])[0]


def test_retention_and_drift_of_a_method_that_keeps_half_the_colour(tmp_path):
    sequence = still_sequence(tmp_path / "still", 20)
    methods = {"key": BASELINES["key"], "half": lambda greys, keys: (0.5 * keys[0] for _ in greys)}
    scores = evaluate_sequence(methods, sequence, 20)
    summary = summarise([scores], 20)
    entry = summary["sequences"]["still"]
    assert entry["frames_scored"] == 19
    assert entry["key"]["retention"] == pytest.approx(1.0, abs=0.005)  # nothing moves: the copy is the truth
    assert entry["half"]["retention"] == pytest.approx(0.5, abs=0.005)
    assert summary["mean"]["half"]["drift"] == pytest.approx(math.log(2), abs=0.01)
    assert summary["mean"]["key"]["drift"] == pytest.approx(0.0, abs=0.005)
    assert "dvcp_minus_flow" not in summary


def test_retention_of_k_uses_frames_up_to_k():
    # frames 1..19 scored; for K = 12 the last 10 scored frames are 2..11 (indices 1..10)
    output = [9.0] + [1.0] * 10 + [5.0] * 8
    truth = [4.0] + [2.0] * 10 + [8.0] * 8
    scores = SequenceScores("s", {"dvcp": MethodScores([30.0] * 19, [0.9] * 19, output)}, truth, list(range(1, 20)))
    assert scores.summary(12)["dvcp"]["retention"] == pytest.approx(0.5)
    assert scores.summary(80)["dvcp"]["retention"] == pytest.approx((2 * 1.0 + 8 * 5.0) / (2 * 2.0 + 8 * 8.0))
    assert summarise([scores], 12)["sequences"]["s"]["frames_scored"] == 11


def test_every_method_is_turned_into_rgb_alike(tiny_data):
    frame = load_frame(find_sequences([tiny_data / "seq0"])[0].frames[0])
    grey, chroma = frame_planes(frame)
    assert np.abs(output_rgb(grey, chroma).astype(int) - frame.astype(int)).max() <= 2


def test_reference_follows_the_protocol(tiny_data, weights):
    sequence = find_sequences([tiny_data / "seq0"])[0]
    result, scores, _ = evaluate(Engine(EngineOptions(weights=weights)), [sequence], [3])
    # key-frame chroma with frame 1's own 8-bit BT.601 luma, computed by hand
    frame0, frame1 = (load_frame(p).astype(np.float64) for p in sequence.frames[:2])
    grey = np.floor(frame1 @ np.array([0.299, 0.587, 0.114]) + 0.5) / 255.0
    _, chroma0 = rgb_to_luma_chroma(torch.from_numpy(frame0 / 255.0).permute(2, 0, 1)[None].float())
    rgb = luma_chroma_to_rgb(torch.from_numpy(grey)[None, None].float(), chroma0)
    expected = (rgb[0] * 255).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()
    assert scores[0].methods["key"].psnr[0] == pytest.approx(psnr(expected, frame1.astype(np.uint8)))
    assert len(scores[0].methods["dvcp"].psnr) == 2  # frames 1 and 2 of K = 3
    entry = result["by_frames"]["3"]["sequences"]["seq0"]
    assert entry["dvcp"]["psnr"] == pytest.approx(np.mean(scores[0].methods["dvcp"].psnr))
    assert entry["dvcp_minus_flow"]["psnr"] == pytest.approx(entry["dvcp"]["psnr"] - entry["flow"]["psnr"])


def test_eval_command_writes_json_plot_and_contact_sheet(tiny_data, weights, tmp_path, capsys):
    out = tmp_path / "report" / "val.json"
    code = main(["eval", str(tiny_data), "--frames", "3", "6", "--json", str(out), "--weights", str(weights),
                 "--sheet-sequence", "seq1"])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["frames"] == [3, 6] and set(report["methods"]) == {"dvcp", "flow", "key"}
    assert set(report["by_frames"]) == {"3", "6"}
    for k, summary in report["by_frames"].items():
        assert set(summary["sequences"]) == {"seq0", "seq1", "seq2"}
        for entry in summary["sequences"].values():
            assert entry["frames_scored"] == int(k) - 1
            for method in ("dvcp", "flow", "key"):
                assert set(entry[method]) == {"psnr", "chroma_psnr", "ssim", "retention"}
                assert all(isinstance(value, float) for value in entry[method].values())
            assert entry["dvcp_minus_flow"]["psnr"] == pytest.approx(entry["dvcp"]["psnr"] - entry["flow"]["psnr"])
        for method in ("dvcp", "flow", "key"):
            mean = summary["mean"][method]
            assert mean["psnr"] == pytest.approx(np.mean([e[method]["psnr"] for e in summary["sequences"].values()]))
            assert mean["drift"] == pytest.approx(
                np.mean([abs(math.log(e[method]["retention"])) for e in summary["sequences"].values()])
            )
        assert summary["dvcp_minus_flow"]["drift"] == pytest.approx(
            summary["mean"]["dvcp"]["drift"] - summary["mean"]["flow"]["drift"]
        )
    by_frame = report["psnr_by_frame"]  # by frame number; frame 0, the keyframe, is not scored
    assert all(len(by_frame["sequences"]["seq0"][m]) == 6 for m in ("dvcp", "flow", "key"))
    assert by_frame["mean"]["flow"][0] is None
    assert by_frame["mean"]["flow"][1] == pytest.approx(np.mean([v["flow"][1] for v in by_frame["sequences"].values()]))
    for name, series in by_frame["sequences"].items():  # K = 3 scores frames 1 and 2
        for method in ("dvcp", "flow", "key"):
            scored = report["by_frames"]["3"]["sequences"][name][method]
            assert scored["psnr"] == pytest.approx(np.mean(series[method][1:3]))
    plot = Image.open(tmp_path / "report" / "val-psnr.png")
    assert plot.format == "PNG" and plot.size == (900, 520)
    sheet = Image.open(tmp_path / "report" / "val-sheet.png")
    assert sheet.format == "PNG" and sheet.size[0] == 4 * WIDTH + 3 * GAP  # grey | truth | dvcp | flow
    printed = capsys.readouterr().out
    assert "flow" in printed and "dvcp-flow" in printed and "colour drift" in printed
    mean_line = next(line for line in printed.splitlines() if line.startswith("mean "))
    means = report["by_frames"]["3"]["mean"]
    assert mean_line.split()[1:] == [f"{means[m]['psnr']:.2f}" for m in ("dvcp", "flow", "key")] + [
        f"{report['by_frames']['3']['dvcp_minus_flow']['psnr']:.2f}"
    ]


def test_eval_with_keyframes_at_both_ends_scores_the_frames_between(tiny_data, weights, tmp_path, capsys):
    out = tmp_path / "keys.json"
    assert main(["eval", str(tiny_data / "seq0"), "--frames", "6", "--keys", "0,last", "--json", str(out),
                 "--weights", str(weights)]) == 0
    report = json.loads(out.read_text())
    assert report["keys"] == [0, "last"]
    entry = report["by_frames"]["6"]["sequences"]["seq0"]
    assert entry["keyframes"] == [0, 5] and entry["frames_scored"] == 4
    series = report["psnr_by_frame"]["sequences"]["seq0"]
    for method in ("dvcp", "flow", "key"):
        assert series[method][0] is None and series[method][5] is None  # keyframes are not scored
        assert entry[method]["psnr"] == pytest.approx(np.mean(series[method][1:5]))
    assert "keyframes: 0, last" in capsys.readouterr().out


def test_eval_scores_the_same_frames_as_the_filter_computes(tiny_data, weights):
    """dvcp's scores with the keyframe at the last frame are those of the very frames that
    dvcp_plugin.colorize makes of the sequence's 8-bit grey with that keyframe (RGB24, same options);
    the key-frame copy gets the same keyframe."""
    import vapoursynth as vs

    import dvcp_plugin

    sequence = find_sequences([tiny_data / "seq0"])[0]
    engine = Engine(EngineOptions(weights=weights, threads=1))
    scores = evaluate_sequence(
        {"dvcp": dvcp_method(engine), "key": BASELINES["key"]}, sequence, 6, keys=["last"]
    )
    assert scores.frames == [0, 1, 2, 3, 4] and scores.keyframes == [5]
    truths = [load_frame(p) for p in sequence.frames[:6]]
    greys = [grey_u8(truth) for truth in truths]
    blank = vs.core.std.BlankClip(format=vs.GRAY8, width=WIDTH, height=greys[0].shape[0], length=6, keep=True)

    def draw(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        np.asarray(out[0])[...] = greys[n]
        return out

    clip = vs.core.std.ModifyFrame(blank, blank, draw)
    coloured = dvcp_plugin.colorize(clip, {5: truths[5]}, format=vs.RGB24, weights=str(weights), threads=1)
    key_chroma = frame_planes(truths[5])[1]
    for i, n in enumerate(scores.frames):
        frame = coloured.get_frame(n)
        made = np.dstack([np.asarray(frame[p]) for p in range(3)])
        # the filter turns its 8-bit planes into floats by its own path: a rare pixel may round one level apart
        assert scores.methods["dvcp"].psnr[i] == pytest.approx(psnr(made, truths[n]), abs=1e-3)
        grey = torch.from_numpy(greys[n]).float() / 255
        assert scores.methods["key"].psnr[i] == pytest.approx(psnr(output_rgb(grey, key_chroma), truths[n]))


def test_eval_scores_the_preset_named(tiny_data, weights, tmp_path, capsys):
    """--preset scores that preset's frames (fast: no networks, so other frames than balanced's) and records it;
    an unknown preset is one error line."""
    reports = {}
    for preset in ("fast", "balanced"):
        out = tmp_path / f"{preset}.json"
        assert main(["eval", str(tiny_data / "seq0"), "--frames", "6", "--json", str(out), "--weights", str(weights),
                     "--preset", preset, "--baselines", "key"]) == 0
        reports[preset] = json.loads(out.read_text())
    assert [reports[p]["model"]["preset"] for p in ("fast", "balanced")] == ["fast", "balanced"]
    fast, balanced = (reports[p]["by_frames"]["6"]["mean"]["dvcp"]["psnr"] for p in ("fast", "balanced"))
    assert fast != pytest.approx(balanced, abs=1e-6)
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["eval", str(tiny_data / "seq0"), "--json", str(tmp_path / "x.json"), "--preset", "quick"])
    err = capsys.readouterr().err
    assert "quick" in err and "fast" in err and "Traceback" not in err


def test_eval_rejects_keyframes_beyond_a_sequence(tiny_data, weights, tmp_path, capsys):
    out = tmp_path / "x.json"
    assert main(["eval", str(tiny_data / "seq0"), "--frames", "4", "--keys", "0,7", "--json", str(out),
                 "--weights", str(weights)]) == 1
    assert "dvcp eval: error: keyframe 7 is beyond the 4 frames coloured of sequence seq0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", str(tiny_data), "--json", str(out), "--keys", "0,end"])
    assert "'end' in '0,end' is not a frame number or last" in capsys.readouterr().err
    assert not out.exists()


def test_eval_without_baselines_scores_dvcp_alone(tiny_data, weights, tmp_path):
    out = tmp_path / "alone.json"
    assert main(["eval", str(tiny_data / "seq0"), "--frames", "4", "--json", str(out), "--weights", str(weights),
                 "--baselines", "none"]) == 0
    report = json.loads(out.read_text())
    assert list(report["methods"]) == ["dvcp"] and "dvcp_minus_flow" not in report["by_frames"]["4"]
    assert Image.open(tmp_path / "alone-sheet.png").size[0] == 3 * WIDTH + 2 * GAP  # grey | truth | dvcp


def test_eval_rejects_unknown_baselines(tiny_data, weights, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["eval", str(tiny_data), "--json", str(tmp_path / "x.json"), "--baselines", "flow,magic"])
    assert "dvcp eval: error: argument --baselines: unknown baseline(s) magic" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_eval_rejects_bad_requests(tiny_data, weights, tmp_path):
    engine = Engine(EngineOptions(weights=weights))
    sequences = find_sequences([tiny_data])
    with pytest.raises(DataError, match="at least 2"):
        evaluate(engine, sequences, [1])
    with pytest.raises(DataError, match="'nope' is not among"):
        evaluate(engine, sequences, [3], sheet_sequence="nope")


def test_real_sequence_short_run(data_dir, weights):
    sequence = find_sequences([data_dir / "val" / "davis-tennis"])[0]
    result, _, sheet = evaluate(Engine(EngineOptions(weights=weights)), [sequence], [4], "davis-tennis")
    scores = result["by_frames"]["4"]["sequences"]["davis-tennis"]
    assert scores["frames_scored"] == 3
    assert 20.0 < scores["key"]["psnr"] < 60.0 and 15.0 < scores["dvcp"]["psnr"] < 60.0
    assert scores["key"]["psnr"] < scores["flow"]["psnr"] < 60.0  # the tennis player moves: following him helps
    assert 0.5 < scores["flow"]["retention"] < 1.5
    assert [row.frame for row in sheet.rows] == [1, 2, 3]
    assert set(sheet.rows[0].outputs) == {"dvcp", "flow", "key"}


def test_eval_scores_the_global_estimate_alone_and_the_key_chroma_ablation(tiny_data, weights, tmp_path, capsys):
    out = tmp_path / "ablation.json"
    assert main(["eval", str(tiny_data / "seq0"), "--frames", "6", "--json", str(out), "--weights", str(weights),
                 "--estimate", "global", "--global-estimate", "key"]) == 0
    report = json.loads(out.read_text())
    assert report["model"]["estimate"] == "global" and report["model"]["global_estimate"] == "key"
    assert "dvcp column: its global estimate; global estimate from the keyframe's chroma" in capsys.readouterr().out
    # the global estimate replaced by the keyframe's chroma is the key-chroma copy, up to the trip
    # through the working resolution
    series = report["psnr_by_frame"]["sequences"]["seq0"]
    for dvcp_db, key_db in zip(series["dvcp"][1:], series["key"][1:], strict=True):
        assert abs(dvcp_db - key_db) < 1.0


def test_the_key_chroma_ablation_changes_only_the_global_estimate(tiny_data, weights):
    sequence = find_sequences([tiny_data / "seq0"])[0]
    planes = [frame_planes(load_frame(p)) for p in sequence.frames[:4]]
    greys = [grey for grey, _ in planes]
    model = list(propagate_shot(Engine(EngineOptions(weights=weights)), greys, {0: planes[0][1]}))
    ablation = Engine(EngineOptions(weights=weights), global_estimate="key")
    ablated = list(propagate_shot(ablation, greys, {0: planes[0][1]}))
    assert torch.equal(ablated[1].local, model[1].local)  # same local stage, same previous colours
    assert torch.equal(ablated[1].confidence, model[1].confidence)  # the confidence is kept
    assert torch.equal(ablated[1].global_, ablated[3].global_)  # the keyframe's chroma on every frame
    assert not torch.equal(ablated[3].global_, model[3].global_)
    with pytest.raises(Exception, match="global_estimate must be one of stage, key"):
        Engine(EngineOptions(weights=weights), global_estimate="none")


def test_eval_scores_clean_and_degraded_input_side_by_side(tiny_data, weights, tmp_path, capsys):
    out = tmp_path / "scan.json"
    sheet = tmp_path / "degradations.png"
    assert main(["eval", str(tiny_data), "--frames", "5", "--json", str(out), "--weights", str(weights),
                 "--degrade", "scan,grain=2", "--degrade-seed", "3", "--degrade-sheet", str(sheet)]) == 0
    report = json.loads(out.read_text())
    degraded = report["degraded"]
    assert degraded["degradations"] == "weave=1,flicker=1,grain=2,dust=1,scratch=1" and degraded["seed"] == 3
    clean, worse = report["by_frames"]["5"]["mean"], degraded["by_frames"]["5"]["mean"]
    for method in ("dvcp", "flow", "key"):
        # the degraded greys cost every method RGB PSNR: its luma is the degraded input's
        assert worse[method]["psnr"] < clean[method]["psnr"] - 0.2
    assert worse["flow"]["chroma_psnr"] < clean["flow"]["chroma_psnr"]
    # the key copy's chroma does not depend on the greys: it loses only what the weave moved
    assert abs(worse["key"]["chroma_psnr"] - clean["key"]["chroma_psnr"]) < 3.0
    printed = capsys.readouterr().out
    assert "degraded input (weave=1,flicker=1,grain=2,dust=1,scratch=1, seed 3)" in printed
    k_line = next(line for line in printed.splitlines() if line.startswith("K=5 ") and "." in line.split()[1])
    assert f"{clean['dvcp']['chroma_psnr']:.2f}" in k_line and f"{worse['dvcp']['chroma_psnr']:.2f}" in k_line
    picture = Image.open(sheet)  # clean, each of the five alone, all together: two rows of four
    assert picture.size[0] == 4 * WIDTH + 3 * GAP and picture.size[1] > 2 * 64


def test_degraded_scores_are_reproducible_and_depend_on_the_seed(tiny_data, weights):
    engine = Engine(EngineOptions(weights=weights))
    sequences = find_sequences([tiny_data])[:1]
    runs = [
        evaluate(engine, sequences, [4], baselines=["flow"], degradations=parse_degradations("grain=1"), seed=seed)[0]
        for seed in (0, 0, 1)
    ]
    scores = [r["degraded"]["by_frames"]["4"]["mean"]["flow"]["chroma_psnr"] for r in runs]
    assert scores[0] == scores[1] != scores[2]
    assert "degraded" not in evaluate(engine, sequences, [4], baselines=[])[0]


def test_eval_rejects_a_bad_degradation_spec(tiny_data, weights, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["eval", str(tiny_data), "--json", str(tmp_path / "x.json"), "--weights", str(weights),
              "--degrade", "sparkle=1"])
    err = capsys.readouterr().err
    assert "dvcp eval: error: argument --degrade: unknown degradation 'sparkle'" in err and "Traceback" not in err
    assert main(["eval", str(tiny_data), "--json", str(tmp_path / "y.json"), "--weights", str(weights),
                 "--degrade-sheet", str(tmp_path / "d.png")]) == 1
    assert "--degrade-sheet needs --degrade" in capsys.readouterr().err
