"""The blending rule of two chains between keyframes, checked against the formula by hand."""

from __future__ import annotations

import pytest
import torch

from dvcp_plugin.models.bidirectional import EPSILON, blend_chains
from dvcp_plugin.models.propagation import StepOutput


def _out(value: float, confidence: float) -> StepOutput:
    chroma = torch.full((1, 2, 1, 1), value)
    conf = torch.full((1, 1, 1, 1), confidence)
    return StepOutput(chroma, chroma, conf, chroma, conf)


def test_weights_follow_distance_and_confidence():
    # n = a + 1, b = n + 3: the forward chain's keyframe is 3 times nearer
    got = blend_chains(_out(0.3, 0.5), _out(-0.1, 0.9), 1, 3)
    w_a, w_b = 3 * (EPSILON + 0.5), 1 * (EPSILON + 0.9)
    assert float(got.final.flatten()[0]) == pytest.approx((w_a * 0.3 + w_b * -0.1) / (w_a + w_b))
    assert float(got.confidence.flatten()[0]) == pytest.approx((w_a * 0.5 + w_b * 0.9) / (w_a + w_b))


def test_halfway_with_equal_confidence_is_the_mean_and_no_confidence_leaves_distance():
    assert float(blend_chains(_out(0.4, 0.7), _out(0.0, 0.7), 5, 5).final.flatten()[0]) == pytest.approx(0.2)
    # neither keyframe found again: the distances alone decide
    assert float(blend_chains(_out(0.4, 0.0), _out(0.0, 0.0), 1, 3).final.flatten()[0]) == pytest.approx(0.3)
    # a chain that found its keyframe outweighs a nearer one that did not
    assert float(blend_chains(_out(0.4, 0.0), _out(0.0, 1.0), 1, 3).final.flatten()[0]) < 0.2


def test_a_blended_frame_lies_between_its_keyframes():
    with pytest.raises(ValueError, match="strictly between"):
        blend_chains(_out(0.0, 1.0), _out(0.0, 1.0), 0, 4)
