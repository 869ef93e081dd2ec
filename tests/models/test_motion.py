"""Motion estimation, warping, reliability, and the stages built on them (motion-compensated local,
re-anchoring global, reliability fusion), checked against OpenCV and known translations."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dvcp_plugin.models.anchor import LONG_RANGE, KeyAnchoring, long_range_level
from dvcp_plugin.models.features import CompactEncoder
from dvcp_plugin.models.motion import SIZES_PER_THREAD, DISMotion, inconsistency, reliability, resize_flow, warp
from dvcp_plugin.models.motion_local import MotionCompensatedPropagation
from dvcp_plugin.models.refine import ReliabilityFusion
from dvcp_plugin.models.resolution import Grey

SHIFT = 3  # pixels the content moves right from the earlier frame to the later one
H, W = 64, 96
INNER = (..., slice(12, -12), slice(12, -12))


def canvas(seed: int = 0) -> np.ndarray:
    """A smooth random texture with detail, float32 (H, W + 2·SHIFT·4) in [0, 1]."""
    rng = np.random.default_rng(seed)
    size = (W + 8 * SHIFT, H)
    coarse = cv2.resize(rng.uniform(0, 1, (8, 16)).astype(np.float32), size, interpolation=cv2.INTER_CUBIC)
    fine = cv2.resize(rng.uniform(-0.2, 0.2, (H // 4, (W + 8 * SHIFT) // 4)).astype(np.float32),
                      (W + 8 * SHIFT, H), interpolation=cv2.INTER_LINEAR)
    return np.clip(coarse + fine, 0, 1)


def frame(image: np.ndarray, t: int) -> torch.Tensor:
    """Frame t of content moving SHIFT px right per frame: (1, C, H, W)."""
    start = 4 * SHIFT - t * SHIFT
    crop = image[:, start : start + W] if image.ndim == 2 else image[:, start : start + W, :]
    tensor = torch.from_numpy(np.ascontiguousarray(crop)).float()
    return tensor[None, None] if tensor.dim() == 2 else tensor.permute(2, 0, 1)[None]


def grey(t: int) -> Grey:
    image = (frame(canvas(), t) * 255).round() / 255
    return Grey(image, image)


def chroma_frame(t: int) -> torch.Tensor:
    planes = np.stack([canvas(1), canvas(2)], axis=-1) - 0.5
    return frame(planes * 0.5, t)


def test_dis_flow_points_from_the_later_frame_to_where_it_was():
    flow = DISMotion("medium")(grey(1).work, grey(0).work)  # backward motion of frame 1
    assert flow.shape == (1, 2, H, W)
    assert flow[0, 0][INNER[1:]].median().item() == pytest.approx(-SHIFT, abs=0.2)
    assert flow[0, 1][INNER[1:]].abs().median().item() < 0.2


def test_finest_pixels_keeps_a_cheap_preset_accurate_on_small_frames_and_changes_nothing_on_large_ones():
    # fast computes the flow on a quarter-size level: 24 x 16 pixels for a 96 x 64 frame
    truth = torch.tensor([-SHIFT, 0.0]).view(1, 2, 1, 1)

    def error(estimator: DISMotion) -> float:
        return float((estimator(grey(1).work, grey(0).work) - truth)[INNER].abs().mean())

    assert error(DISMotion("fast", finest_pixels=2000)) < 0.5 * error(DISMotion("fast"))
    big = torch.from_numpy(cv2.resize(canvas(), (856, 480)))[None, None]
    moved = torch.roll(big, 5, dims=-1)
    assert torch.equal(DISMotion("fast")(moved, big), DISMotion("fast", finest_pixels=25_000)(moved, big))
    with pytest.raises(ValueError, match="finest_pixels must be a positive number"):
        DISMotion("fast", finest_pixels=0)


def test_long_range_motion_is_estimated_on_the_level_asked_for():
    small = Grey(torch.zeros(1, 1, 96, 160), torch.zeros(1, 1, 192, 320))  # motion level 61,440 pixels
    large = Grey(torch.zeros(1, 1, 240, 427), torch.zeros(1, 1, 480, 854))
    assert [long_range_level(how, small) for how in LONG_RANGE] == [1, 0, 1]
    assert [long_range_level(how, large) for how in LONG_RANGE] == [1, 0, 0]
    with pytest.raises(ValueError, match="long_range must be one of motion, work, auto"):
        KeyAnchoring(DISMotion(), CompactEncoder(), long_range="near")
    with pytest.raises(ValueError, match="consistency must be one of forward, coarse, none"):
        MotionCompensatedPropagation(DISMotion(), consistency="both")


def test_dis_flow_of_a_pair_does_not_depend_on_what_the_estimator_computed_before():
    # a frame's motion must not depend on request order; the local stage and the key anchoring
    # ask one estimator for flows at two sizes, interleaved
    rng = np.random.RandomState(0)

    def pair(height: int, width: int, shift: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = cv2.GaussianBlur(rng.uniform(0, 1, (height, width)).astype(np.float32), (5, 5), 1.5)
        moved = np.roll(image, shift, axis=1)
        return torch.from_numpy(image)[None, None], torch.from_numpy(moved)[None, None]

    pairs = [pair(48, 64, i % 4) for i in range(6)] + [pair(24, 32, 1) for _ in range(3)]
    used = DISMotion("medium")
    for a, b in pairs + pairs[::-1]:
        assert torch.equal(used(a, b), DISMotion("medium")(a, b))
    # more sizes than a thread keeps objects for: the oldest are dropped, results unchanged
    many = [pair(16 + 8 * i, 24, 1) for i in range(2 * SIZES_PER_THREAD)]
    for a, b in many + many + pairs:
        assert torch.equal(used(a, b), DISMotion("medium")(a, b))
    assert len(used._local.objects) == SIZES_PER_THREAD


@pytest.mark.parametrize(("mode", "interpolation"), [("bilinear", cv2.INTER_LINEAR), ("bicubic", cv2.INTER_CUBIC)])
def test_warp_is_opencv_remap_with_replicated_borders(mode, interpolation):
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 2, 20, 30, generator=generator)
    flow = (torch.rand(1, 2, 20, 30, generator=generator) - 0.5) * 8
    ys, xs = np.mgrid[:20, :30].astype(np.float32)
    expected = np.stack([
        cv2.remap(image[0, c].numpy(), xs + flow[0, 0].numpy(), ys + flow[0, 1].numpy(), interpolation,
                  borderMode=cv2.BORDER_REPLICATE)
        for c in range(2)
    ])
    inner = (slice(2, -2), slice(2, -2))  # bicubic's replicated border differs at the edge pixels
    assert np.allclose(warp(image, flow, mode)[0].numpy()[(..., *inner)], expected[(..., *inner)], atol=2e-3)


def test_half_precision_warp_samples_where_float32_does():
    """A half-precision image of a wide frame is sampled at the same points as in float32: only the
    values are rounded to half precision, not the coordinates (in half, 0.5 px apart from 512 px on)."""
    image = torch.rand(1, 2, 8, 1100, generator=torch.Generator().manual_seed(0)).half()
    flow = torch.full((1, 2, 8, 1100), 0.3)
    flow[:, 1] = 0.0
    expected = warp(image.float(), flow)
    got = warp(image, flow)
    assert got.dtype == torch.float16
    # half has 11 significant bits: values in [0, 1) round by at most 2^-12
    torch.testing.assert_close(got.float(), expected, atol=2**-12, rtol=0)


def test_resize_flow_scales_the_vectors_with_the_grid():
    flow = torch.stack([torch.full((8, 12), 2.0), torch.full((8, 12), -1.0)])[None]
    resized = resize_flow(flow, (16, 36))
    assert resized.shape == (1, 2, 16, 36)
    assert torch.allclose(resized[0, 0], torch.full((16, 36), 6.0))
    assert torch.allclose(resized[0, 1], torch.full((16, 36), -2.0))


def test_inconsistency_and_reliability():
    backward = torch.zeros(1, 2, 32, 32)
    backward[:, 0] = -2.0
    forward = -backward
    inner = (..., slice(4, -4), slice(4, -4))
    assert inconsistency(backward, forward)[inner].abs().max() < 1e-5
    assert inconsistency(backward, torch.zeros_like(forward))[inner].min() == pytest.approx(2.0)
    grey_a = torch.rand(1, 1, 16, 16)
    trust = reliability(grey_a, grey_a, torch.zeros(1, 1, 16, 16))
    assert torch.equal(trust, torch.ones_like(trust))
    doubt = reliability(grey_a, grey_a + 0.3, torch.full((1, 1, 16, 16), 3.0))
    assert doubt.max() < 0.01 and doubt.min() >= 0


def test_motion_compensated_stage_with_delta_kernels_is_flow_propagation():
    torch.manual_seed(0)
    stage = MotionCompensatedPropagation(DISMotion("medium"), kernel_size=5, stem=8, widths=(8, 8))
    with torch.no_grad():  # make the kernels exact deltas
        for head in (stage.vertical_head, stage.horizontal_head):
            head.weight.zero_()
            head.bias.fill_(-1e4)
            head.bias[2] = 0.0
    previous = chroma_frame(0)
    with torch.no_grad():
        out, trust = stage(grey(0), grey(1), previous)
    # flow propagation, computed independently: DIS on the 8-bit greys, then OpenCV's remap
    a, b = ((g.work[0, 0].numpy() * 255).round().astype(np.uint8) for g in (grey(1), grey(0)))
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(a, b, None)
    ys, xs = np.mgrid[:H, :W].astype(np.float32)
    expected = np.stack([cv2.remap(previous[0, c].numpy(), xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REPLICATE) for c in range(2)])
    assert np.allclose(out[0].numpy(), expected, atol=2e-3)
    # and it carried the colours along the motion: frame 1's true chroma, inside the frame
    assert (out - chroma_frame(1))[INNER].abs().mean() < 0.01 < (previous - chroma_frame(1))[INNER].abs().mean()
    assert trust.shape == (1, 1, H, W) and trust[INNER].mean() > 0.8


def test_motion_compensated_plan_does_not_depend_on_the_colours():
    torch.manual_seed(0)
    stage = MotionCompensatedPropagation(DISMotion("fast"), kernel_size=3, stem=8, widths=(8, 8))
    plan = stage.plan(grey(0), grey(1))
    first = stage.apply(plan, chroma_frame(0))
    assert torch.equal(first, stage(grey(0), grey(1), chroma_frame(0))[0])
    assert not torch.equal(first, stage.apply(plan, chroma_frame(0) * 0.5))


def test_motion_at_a_finer_resolution_is_resampled_to_the_working_grid():
    fine0, fine1 = grey(0).work, grey(1).work
    coarse0, coarse1 = (F.interpolate(g, scale_factor=0.5, mode="bilinear", antialias=True) for g in (fine0, fine1))
    stage = MotionCompensatedPropagation(DISMotion("medium"), kernel_size=3, stem=8, widths=(8, 8))
    plan = stage.plan(Grey(coarse0, fine0), Grey(coarse1, fine1))
    assert plan.flow.shape == (1, 2, H // 2, W // 2)
    assert plan.flow[0, 0][6:-6, 6:-6].median().item() == pytest.approx(-SHIFT / 2, abs=0.15)


def test_anchoring_warps_the_keyframe_chroma_with_high_confidence_where_it_is_found():
    torch.manual_seed(0)
    anchor = KeyAnchoring(DISMotion("medium"), CompactEncoder(fine_channels=8, coarse_channels=8))
    key = anchor.prepare_key(grey(0), chroma_frame(0))
    moved, trust = anchor.follow(grey(2), key)
    moved_error, still_error = ((colour - chroma_frame(2))[INNER].abs().mean() for colour in (moved, chroma_frame(0)))
    assert moved_error < 0.01 < still_error
    assert trust[INNER].mean() > 0.8
    # the left border of frame 2 was never in the keyframe: low reliability there
    assert trust[..., 10:-10, : 2 * SHIFT - 1].mean() < trust[INNER].mean()
    # the estimate is the motion's where it holds and the match's where it does not
    chroma, confidence = anchor(grey(2), key)
    matched, similarity = anchor.match(grey(2), key)
    with torch.no_grad():
        assert torch.allclose(chroma, trust * moved + (1 - trust) * matched, atol=1e-6)
        assert torch.allclose(confidence, trust + (1 - trust) * similarity / 2, atol=1e-6)
    # match_confidence 0: the confidence is the motion's reliability alone
    anchor.match_confidence = 0.0
    with torch.no_grad():
        assert torch.equal(anchor(grey(2), key)[1], trust)


def test_untrained_fusion_takes_the_global_estimate_where_it_is_confident():
    torch.manual_seed(0)
    fusion = ReliabilityFusion(stem=8, widths=(8, 8))
    grey_cur, local, global_ = torch.rand(1, 1, 24, 32), torch.rand(1, 2, 24, 32) - 0.5, torch.rand(1, 2, 24, 32) - 0.5
    ones = torch.ones(1, 1, 24, 32)
    sure = fusion(grey_cur, local, ones, global_, ones)
    unsure = fusion(grey_cur, local, ones, global_, torch.zeros_like(ones))
    assert (sure - global_).abs().max() < 0.01
    assert (unsure - local).abs().max() < 0.01


def test_fusion_keeping_saturation_does_not_pale_a_blend_of_two_hues():
    torch.manual_seed(0)
    plain = ReliabilityFusion(stem=8, widths=(8, 8))
    keeping = ReliabilityFusion(stem=8, widths=(8, 8), keep_saturation=True)
    keeping.load_state_dict(plain.state_dict())
    grey_cur = torch.rand(1, 1, 8, 8)
    # red-ish and blue-ish chroma of equal strength 0.2, at right angles; half confidence: an even blend
    local = torch.tensor([0.2, 0.0]).view(1, 2, 1, 1).expand(1, 2, 8, 8)
    global_ = torch.tensor([0.0, 0.2]).view(1, 2, 1, 1).expand(1, 2, 8, 8)
    half, ones = torch.full((1, 1, 8, 8), 0.5), torch.ones(1, 1, 8, 8)
    with torch.no_grad():
        pale, kept = plain(grey_cur, local, ones, global_, half), keeping(grey_cur, local, ones, global_, half)
    assert torch.allclose(pale.norm(dim=1), torch.full((1, 8, 8), 0.2 / 2**0.5), atol=1e-4)  # |(0.1, 0.1)|
    assert torch.allclose(kept.norm(dim=1), torch.full((1, 8, 8), 0.2), atol=1e-4)
    assert torch.allclose(kept[:, 0], kept[:, 1])  # the hue halfway between the two
    # opposite hues cancel: the strength is raised at most twofold, not invented from nothing
    with torch.no_grad():
        cancelled = keeping(grey_cur, local, ones, -local, half)
    assert cancelled.abs().max() < 1e-4
