"""Weights are checked when loaded: non-finite values, unreadable files and tensors that do not fit are one line."""

from __future__ import annotations

import datetime
import math
import os
import pickle

import pytest
import torch

from dvcp_plugin.stages.build import untrained_weights
from dvcp_plugin.stages.weights import save_weights


def _nan_weights(tmp_path, value: float = math.nan):
    data = untrained_weights(0)
    state = data["stages"]["refine"]["state"]
    key = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 4)
    state[key] = state[key].clone()
    state[key].view(-1)[:3] = value
    return save_weights(tmp_path / "nan.pt", data), data["stages"]["refine"]["name"], key


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_weights_with_non_finite_values_are_refused_naming_stage_and_tensor(
    tmp_path, grey_folder, run_dvcp, assert_clean_error, value
):
    weights, name, key = _nan_weights(tmp_path, value)
    source, key_image = grey_folder(count=3)
    done = run_dvcp("colorize", source, "-k", f"0={key_image}", "-o", tmp_path / "out", "--weights", weights)
    assert_clean_error(
        done, "colorize",
        f"the refine stage {name!r} holds 3 non-finite value(s) (NaN or infinity) in its tensor {key!r}",
    )
    assert not (tmp_path / "out").exists()


def test_doctor_checks_the_weights_it_reports(tmp_path, run_dvcp):
    weights, name, key = _nan_weights(tmp_path)
    done = run_dvcp("doctor", env={**os.environ, "DVCP_WEIGHTS": str(weights), "DVCP_PLUGINS": "none"})
    assert done.returncode == 1
    assert f"weights      BROKEN: weights file {weights}: the refine stage {name!r} holds 3 non-finite" in done.stdout
    assert "status       ready" not in done.stdout


@pytest.mark.parametrize(
    "damage", ["cut short", "empty", "random bytes", "a pickle of other objects"],
)
def test_a_weights_file_torch_cannot_read_is_one_line_in_dvcps_words(
    tmp_path, grey_folder, weights, run_dvcp, assert_clean_error, damage
):
    broken = tmp_path / "broken.pt"
    whole = weights.read_bytes()
    broken.write_bytes({
        "cut short": whole[: len(whole) // 2],
        "empty": b"",
        "random bytes": bytes(range(256)) * 20,
        "a pickle of other objects": pickle.dumps({"stages": {1, 2}, "when": datetime.date.today()}),
    }[damage])
    source, key = grey_folder(count=3)
    done = run_dvcp("colorize", source, "-k", f"0={key}", "-o", tmp_path / "out", "--weights", broken)
    assert_clean_error(done, "colorize", f"cannot read weights file {broken}: it is corrupt")
    assert "dvcp train --export" in done.stderr
    assert "weights_only" not in done.stderr and "torch.load" not in done.stderr
    assert all(line.startswith("dvcp colorize: ") for line in done.stderr.strip().splitlines()), done.stderr


def test_weights_of_another_shape_name_the_tensor_and_both_shapes(tmp_path):
    from dvcp_plugin.errors import WeightsError
    from dvcp_plugin.options import EngineOptions
    from dvcp_plugin.runtime.engine import Engine

    data = untrained_weights(0)
    state = data["stages"]["refine"]["state"]
    key = next(k for k, v in state.items() if v.ndim == 4)
    expected = tuple(state[key].shape)
    state[key] = torch.zeros(expected[0] + 1, *expected[1:])
    path = save_weights(tmp_path / "shape.pt", data)
    with pytest.raises(WeightsError) as info:
        Engine(EngineOptions(weights=path))
    found = (expected[0] + 1, *expected[1:])
    assert f"tensor {key!r} has shape ({', '.join(map(str, found))}) in the file" in str(info.value)
    assert f"the network expects ({', '.join(map(str, expected))})" in str(info.value)
    assert "\n" not in str(info.value)
