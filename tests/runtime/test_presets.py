"""Presets: named sets of stage options for the default stages, under the options given."""

from __future__ import annotations

import pytest
import torch

from dvcp_plugin.errors import DvcpError
from dvcp_plugin.options import PRESETS, EngineOptions, Options
from dvcp_plugin.runtime.engine import Engine
from dvcp_plugin.runtime.sequential import propagate_shot
from dvcp_plugin.stages.build import untrained_weights
from dvcp_plugin.stages.weights import save_weights


def _engine(weights, **options) -> Engine:
    return Engine(EngineOptions(weights=weights, threads=1, **options))


def test_each_preset_sets_its_stage_options_and_balanced_is_the_default(weights):
    assert EngineOptions().preset == "balanced" and set(PRESETS) == {"fast", "balanced", "best"}
    fast, balanced, best = (_engine(weights, preset=name) for name in ("fast", "balanced", "best"))
    # fast: no networks, long-range motion at the working resolution, no feature matching
    assert not fast.local.kernels and not fast.refine.network and fast.local.consistency == "none"
    assert fast.global_.long_range == "auto" and fast.global_.match_below == 0.0
    # balanced: fast's motion and no networks, matching where the long-range motion fails; best: every check,
    # the networks
    assert not balanced.local.kernels and not balanced.refine.network and balanced.local.consistency == "none"
    assert balanced.global_.match_below == 0.9
    assert best.local.kernels and best.refine.network
    assert best.local.consistency == "forward" and best.global_.long_range == "motion"
    assert best.global_.match_below is None and best.global_.roi_size == 12
    assert _engine(weights).local.consistency == balanced.local.consistency  # the default


def test_options_given_override_the_preset_and_keep_the_rest_of_it(weights):
    engine = _engine(weights, preset="fast", stage_options={"local": {"kernels": True}, "global": {"roi_size": 10}})
    assert engine.local.kernels and engine.global_.roi_size == 10  # given
    assert engine.local.consistency == "none" and not engine.refine.network  # the preset's


def test_a_preset_leaves_stages_other_than_its_own_alone(tmp_path):
    other = save_weights(tmp_path / "sepconv.pt", untrained_weights(0, names={"local": "sepconv"},
                                                                       options={"local": {"widths": [8, 16]}}))
    engine = Engine(EngineOptions(weights=other, preset="fast", threads=1))  # fast's local options are mcsepconv's
    assert engine.stage_names["local"] == "sepconv" and not engine.refine.network


def test_an_unknown_preset_is_named_with_the_choices():
    with pytest.raises(DvcpError, match="preset='quick' must be one of fast, balanced, best"):
        Options.of({"preset": "quick"})


def test_presets_colour_a_shot_differently_and_each_the_same_way_twice(weights):
    greys = [torch.roll(torch.linspace(0, 1, 64 * 48).reshape(48, 64), 2 * n, 1) for n in range(5)]
    key = torch.stack([greys[0] - 0.5, 0.5 - greys[0]]) * 0.2
    finals = {}
    for name in PRESETS:
        runs = [[o.final for o in propagate_shot(_engine(weights, preset=name), greys, {0: key})] for _ in range(2)]
        assert all(torch.equal(a, b) for a, b in zip(*runs, strict=True)), name
        finals[name] = runs[0][-1]
    assert not torch.equal(finals["fast"], finals["best"]) and not torch.equal(finals["balanced"], finals["best"])
