"""dvcp eval: the metrics, the protocol of DESIGN §5, and the files the command writes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from dvcp_plugin.cli import main
from dvcp_plugin.evaluation.metrics import PSNR_CAP_DB, psnr, ssim
from dvcp_plugin.evaluation.protocol import evaluate
from dvcp_plugin.models.color import luma_chroma_to_rgb, rgb_to_luma_chroma
from dvcp_plugin.runtime.engine import Engine, EngineConfig
from dvcp_plugin.stages.build import untrained_weights
from dvcp_plugin.stages.weights import save_weights
from dvcp_plugin.training.data import DataError, find_sequences, load_frame


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


def test_ssim_is_one_for_identical_images_and_lower_otherwise():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    assert ssim(image, image) == pytest.approx(1.0, abs=1e-5)
    slightly, badly = (
        np.clip(image.astype(int) + rng.integers(-n, n + 1, image.shape), 0, 255).astype(np.uint8) for n in (10, 80)
    )
    assert 0.0 < ssim(badly, image) < ssim(slightly, image) < 0.999


def test_reference_follows_the_protocol(tiny_data, weights):
    sequence = find_sequences([tiny_data / "seq0"])[0]
    result, scores, _ = evaluate(Engine(EngineConfig(weights=weights)), [sequence], [3])
    # key-frame chroma with frame 1's own 8-bit BT.601 luma, computed by hand
    frame0, frame1 = (load_frame(p).astype(np.float64) for p in sequence.frames[:2])
    grey = np.floor(frame1 @ np.array([0.299, 0.587, 0.114]) + 0.5) / 255.0
    _, chroma0 = rgb_to_luma_chroma(torch.from_numpy(frame0 / 255.0).permute(2, 0, 1)[None].float())
    rgb = luma_chroma_to_rgb(torch.from_numpy(grey)[None, None].float(), chroma0)
    expected = (rgb[0] * 255).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()
    assert scores[0].reference_psnr[0] == pytest.approx(psnr(expected, frame1.astype(np.uint8)))
    assert len(scores[0].psnr) == 2  # frames 1 and 2 of K = 3
    assert result["sequences"]["seq0"]["psnr"] == pytest.approx(np.mean(scores[0].psnr))


def test_eval_command_writes_json_plot_and_contact_sheet(tiny_data, weights, tmp_path, capsys):
    out = tmp_path / "report" / "val.json"
    code = main(["eval", str(tiny_data), "--frames", "3", "6", "--json", str(out), "--weights", str(weights),
                 "--sheet-sequence", "seq1"])
    assert code == 0
    report = json.loads(out.read_text())
    assert isinstance(report["mean_psnr"], float) and report["frames"] == 6
    assert set(report["sequences"]) == {"seq0", "seq1", "seq2"}
    assert all(isinstance(v["psnr"], float) and len(v["psnr_by_frame"]) == 5 for v in report["sequences"].values())
    assert report["mean_psnr"] == pytest.approx(np.mean([v["psnr"] for v in report["sequences"].values()]))
    assert set(report["by_frames"]) == {"3", "6"}
    assert report["by_frames"]["6"]["mean_psnr"] == report["mean_psnr"]
    assert isinstance(report["reference"]["mean_psnr"], float)
    plot = Image.open(tmp_path / "report" / "val-psnr.png")
    assert plot.format == "PNG" and plot.size == (900, 520)
    sheet = Image.open(tmp_path / "report" / "val-sheet.png")
    assert sheet.format == "PNG" and sheet.size[0] > 3 * 96 and sheet.size[1] > 4 * 64
    assert "mean" in capsys.readouterr().out


def test_eval_rejects_bad_requests(tiny_data, weights, tmp_path):
    engine = Engine(EngineConfig(weights=weights))
    sequences = find_sequences([tiny_data])
    with pytest.raises(DataError, match="at least 2"):
        evaluate(engine, sequences, [1])
    with pytest.raises(DataError, match="'nope' is not among"):
        evaluate(engine, sequences, [3], sheet_sequence="nope")


def test_real_sequence_short_run(data_dir, weights):
    sequence = find_sequences([data_dir / "val" / "davis-tennis"])[0]
    result, _, sheet = evaluate(Engine(EngineConfig(weights=weights)), [sequence], [3], "davis-tennis")
    scores = result["sequences"]["davis-tennis"]
    assert scores["frames_scored"] == 2
    assert 20.0 < scores["reference_psnr"] < 60.0 and 15.0 < scores["psnr"] < 60.0
    assert [row[0] for row in sheet.rows] == [1, 2]
