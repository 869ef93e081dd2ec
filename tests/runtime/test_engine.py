"""The engine runs shots deterministically and computes keyframe features once per shot."""

from __future__ import annotations

import pytest
import torch

from dvcp_plugin.bench.common import greys, key_chroma
from dvcp_plugin.errors import DvcpError, StageError, UnknownStageError, WeightsError
from dvcp_plugin.evaluation.methods import output_rgb
from dvcp_plugin.evaluation.metrics import psnr
from dvcp_plugin.options import EngineOptions
from dvcp_plugin.runtime import engine as engine_module
from dvcp_plugin.runtime.engine import Engine
from dvcp_plugin.runtime.sequential import propagate_shot
from dvcp_plugin.stages.build import untrained_weights
from dvcp_plugin.stages.weights import find_weights, save_weights


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("weights") / "untrained.pt"
    return str(save_weights(path, untrained_weights(seed=0)))


def _shot(frames: int = 6, height: int = 40, width: int = 56):
    gen = torch.Generator().manual_seed(1)
    greys = [torch.rand(height, width, generator=gen) for _ in range(frames)]
    chroma = torch.rand(2, height, width, generator=gen) - 0.5
    return greys, chroma


def test_engine_is_deterministic_across_instances(weights_file):
    greys, chroma = _shot()
    first = [out.final for out in propagate_shot(Engine(EngineOptions(weights=weights_file)), greys, {0: chroma})]
    second = [out.final for out in propagate_shot(Engine(EngineOptions(weights=weights_file)), greys, {0: chroma})]
    assert len(first) == len(greys)
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)


def test_keyframe_features_are_computed_once_per_shot(weights_file):
    engine = Engine(EngineOptions(weights=weights_file))
    calls = []
    engine.global_.extractor.register_forward_hook(lambda module, args, out: calls.append(args[0].shape))
    greys, chroma = _shot(frames=7)
    outputs = list(propagate_shot(engine, greys, {0: chroma}))
    assert len(outputs) == 7
    # one extraction for the keyframe, one per propagated frame, never the keyframe again
    assert len(calls) == 1 + 6
    assert engine.stats["key_features"] == 1 and engine.stats["steps"] == 6


def test_engine_returns_three_estimates_at_the_working_resolution(weights_file):
    engine = Engine(EngineOptions(weights=weights_file, chroma_scale=0.5))
    greys, chroma = _shot(frames=3, height=40, width=56)
    outputs = list(propagate_shot(engine, greys, {0: chroma}))
    key = outputs[0]
    assert torch.equal(key.final, key.local) and torch.all(key.confidence == 1)
    for out in outputs[1:]:
        assert out.local.shape == out.global_.shape == out.final.shape == (1, 2, 20, 28)
        assert out.confidence.shape == (1, 1, 20, 28)
        assert out.final.abs().max() <= 0.5
    assert Engine.to_full(outputs[1].final, (40, 56)).shape == (2, 40, 56)


def test_untrained_engine_keeps_a_static_shot_close_to_its_keyframe(weights_file):
    # untrained local kernels start near a delta and refine starts as identity on local
    engine = Engine(EngineOptions(weights=weights_file, chroma_scale=1.0))
    grey = torch.rand(32, 32, generator=torch.Generator().manual_seed(3))
    chroma = torch.full((2, 32, 32), 0.2)
    outputs = list(propagate_shot(engine, [grey] * 4, {0: chroma}))
    assert torch.allclose(outputs[-1].final, torch.full_like(outputs[-1].final, 0.2), atol=1e-3)


def test_stages_are_resolved_by_name_through_the_registry(weights_file):
    with pytest.raises(UnknownStageError, match="available: mcsepconv, sepconv"):
        Engine(EngineOptions(weights=weights_file, local_stage="nosuch"))


def test_resnet_global_stage_without_imagenet_weights_says_how_to_get_them(weights_file, tmp_path):
    config = EngineOptions(
        weights=weights_file,
        global_stage="resnet18",
        stage_options={"global": {"imagenet_weights": str(tmp_path / "missing.pth")}},
    )
    with pytest.raises(StageError, match="cannot build the global stage 'resnet18': .*download.pytorch.org"):
        Engine(config)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"device": "cuda:7"}, "CUDA"),
        ({"device": "tpu"}, "device"),
        ({"half": True}, "half precision needs a CUDA device"),
        ({"chroma_scale": 1.5}, "chroma_scale"),
    ],
)
def test_bad_engine_options_are_clear_errors(weights_file, config, message):
    with pytest.raises(DvcpError, match=message):
        Engine(EngineOptions(weights=weights_file, **config))


def test_missing_and_corrupt_weights_are_clear_errors(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        Engine(EngineOptions(weights=tmp_path / "nope.pt"))
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a torch archive")
    with pytest.raises(WeightsError, match="corrupt"):
        Engine(EngineOptions(weights=corrupt))


def test_weights_that_do_not_fit_the_network_are_a_clear_error(tmp_path):
    data = untrained_weights(seed=0)
    data["stages"]["local"]["options"] = {"kernel_size": 13}
    data["stages"]["local"]["state"] = untrained_weights(
        seed=0, options={"local": {"kernel_size": 7}}
    )["stages"]["local"]["state"]
    path = save_weights(tmp_path / "mismatched.pt", data)
    with pytest.raises(WeightsError, match="local stage 'mcsepconv' weights do not fit"):
        Engine(EngineOptions(weights=path))


@pytest.mark.parametrize(
    "names",
    [None, {"local": "mcsepconv", "global": "anchor", "refine": "fusion"}],
    ids=["shipped stages", "motion-compensated stages"],
)
def test_half_precision_frames_are_within_45_db_of_float32(monkeypatch, tmp_path, names):
    """Half precision runs every stage in float16 and gives frames within 45 dB (RGB, 8 bit) of float32.

    The engine asks for a CUDA device for half precision; torch's CPU runs float16 too, which is
    how this runs here (the device check is the only thing set aside).
    """
    monkeypatch.setattr(engine_module, "resolve_device", lambda device, half: torch.device(device))
    height, width = 96, 128
    frames, chroma = greys(9, height, width), key_chroma(height, width)
    weights = find_weights() if names is None else save_weights(tmp_path / "w.pt", untrained_weights(0, names))
    runs = {}
    for half in (False, True):
        engine = Engine(EngineOptions(weights=weights, half=half, global_stage=(names or {}).get("global")))
        runs[half] = list(propagate_shot(engine, frames, {0: chroma}))
    for n, (grey, full, half) in enumerate(zip(frames, runs[False], runs[True], strict=True)):
        assert {t.dtype for t in half} == {torch.float16}, n  # the whole chain stays in half precision
        score = psnr(*(output_rgb(grey, Engine.to_full(out.final, (height, width))) for out in (full, half)))
        assert score >= 45, (n, score)
