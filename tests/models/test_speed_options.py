"""The stage options that the presets choose between: exposure alignment, how motion is checked, matching
only where the motion fails, the networks optional or at half resolution, and the fusion's reliability gain."""

from __future__ import annotations

import torch

from dvcp_plugin.models.anchor import KeyAnchoring
from dvcp_plugin.models.features import CompactEncoder
from dvcp_plugin.models.motion import DISMotion, aligned, warp
from dvcp_plugin.models.motion_local import MotionCompensatedPropagation, check
from dvcp_plugin.models.refine import ReliabilityFusion
from dvcp_plugin.models.resolution import Grey


def _texture(height: int = 96, width: int = 160, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 1, height // 8, width // 8, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=(height, width), mode="bicubic").clamp(0.05, 0.95)


def test_alignment_removes_a_flicker_and_keeps_what_moved():
    grey = _texture()
    flickered = grey * 1.04 + 0.03  # the same content, brighter
    occluded = flickered.clone()
    occluded[..., 30:50, 60:90] = 0.9  # and something in front of part of it
    residual = (occluded - aligned(grey, occluded)).abs()
    outside = torch.ones_like(residual, dtype=torch.bool)
    outside[..., 25:55, 55:95] = False
    assert float(residual[outside].mean()) < 0.01 < float((occluded - grey).abs()[outside].mean())
    assert float(residual[..., 32:48, 62:88].mean()) > 0.15  # the occlusion still shows


def test_checks_of_a_translation_agree_and_none_is_zero():
    frame, other = _texture(), torch.roll(_texture(), 2, dims=-1)
    motion = DISMotion()
    flow = motion(frame, other)
    inner = (..., slice(8, -8), slice(8, -8))
    assert float(check(motion, "forward", flow, frame, other)[inner].median()) < 0.3
    assert float(check(motion, "coarse", flow, frame, other)[inner].median()) < 0.6
    assert torch.equal(check(motion, "none", flow, frame, other), torch.zeros_like(flow[:, :1]))


def test_matching_only_where_the_motion_fails_changes_nothing_where_it_runs_and_nothing_runs_below_zero():
    torch.manual_seed(0)
    key_grey = _texture()
    chroma = torch.cat([key_grey - 0.5, 0.5 - key_grey], dim=1) * 0.2
    frame = Grey(torch.roll(key_grey, 17, dims=-1), torch.roll(key_grey, 17, dims=-1))
    everywhere = KeyAnchoring(DISMotion(), CompactEncoder())
    key = everywhere.prepare_key(Grey(key_grey, key_grey), chroma)
    with torch.no_grad():
        full = everywhere(frame, key)
        everywhere.match_below = 1.01  # every cell is below: the same as matching everywhere
        assert all(torch.equal(a, b) for a, b in zip(full, everywhere(frame, key), strict=True))
        everywhere.match_below = 0.0  # no cell: the long-range motion's estimate and reliability alone
        moved, trust = everywhere.follow(frame, key)
        assert all(torch.equal(a, b) for a, b in zip((moved, trust), everywhere(frame, key), strict=True))


def test_without_kernels_the_local_stage_is_the_warp_of_the_previous_colours():
    prev, cur = _texture(), torch.roll(_texture(), 3, dims=-1)
    stage = MotionCompensatedPropagation(DISMotion(), kernels=False, interpolation="bicubic")
    plan = stage.plan(Grey(prev, prev), Grey(cur, cur))
    assert plan.vertical is None and plan.flow is not None
    colours = torch.cat([prev, 1 - prev], dim=1) - 0.5
    assert torch.equal(stage.apply(plan, colours), warp(colours, plan.flow, "bicubic"))
    halved = MotionCompensatedPropagation(DISMotion(), net_scale=2)
    plan = halved.plan(Grey(prev, prev), Grey(cur, cur))
    assert plan.vertical is not None and plan.vertical.shape[-2:] == cur.shape[-2:]
    assert torch.allclose(plan.vertical.sum(dim=1), torch.ones(1, 96, 160))


@torch.no_grad()
def test_the_fusion_rule_without_a_network_and_its_lean_to_the_keyframe_where_the_motion_failed():
    grey = _texture()
    local, global_ = torch.full((1, 2, 96, 160), 0.2), torch.full((1, 2, 96, 160), -0.1)
    confidence = torch.full_like(grey, 0.3)
    rule = ReliabilityFusion(network=False)
    reliable, failed = torch.ones_like(grey), torch.zeros_like(grey)
    expected = local + torch.sigmoid(torch.tensor(10 * (0.3 - 0.5))) * (global_ - local)
    assert torch.allclose(rule(grey, local, reliable, global_, confidence), expected)
    leaning = ReliabilityFusion(network=False, reliability_gain=3.0)
    towards = [float(leaning(grey, local, r, global_, confidence).mean()) for r in (reliable, failed)]
    # a failed motion moves the blend towards the keyframe's estimate; a reliable one towards the local
    assert towards[1] < float(expected.mean()) < towards[0]
    halved = ReliabilityFusion(net_scale=2)
    assert halved(grey, local, reliable, global_, confidence).shape == local.shape
