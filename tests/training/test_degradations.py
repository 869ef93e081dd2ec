"""Scan-like degradations: parsed specs, reproducible, and each one doing to the frames what its name says."""

from __future__ import annotations

import pytest
import torch

from dvcp_plugin.training.degradations import DegradationError, Degradations, degrade, parse_degradations


def _textured(count: int = 6, height: int = 96, width: int = 160) -> list[torch.Tensor]:
    """Smooth random texture, the same every call, one frame per step moving right by 1 px."""
    generator = torch.Generator().manual_seed(7)
    base = torch.nn.functional.interpolate(
        torch.rand(1, 1, height // 8, width // 8 + count, generator=generator),
        size=(height, width + 8 * count),
        mode="bicubic",
        align_corners=False,
    )[0, 0].clamp(0.1, 0.9)
    return [base[:, t : t + width].clone() for t in range(count)]


def _flat(count: int = 6, value: float = 0.5) -> list[torch.Tensor]:
    return [torch.full((96, 160), value) for _ in range(count)]


def test_specs_name_sets_and_strengths():
    assert parse_degradations("none") == Degradations()
    assert parse_degradations("scan") == Degradations(weave=1, flicker=1, grain=1, dust=1, scratch=1)
    assert parse_degradations("scan,grain=2,blur=0.5") == Degradations(
        weave=1, flicker=1, grain=2, dust=1, scratch=1, blur=0.5
    )
    assert parse_degradations("flicker=1").spec() == "flicker=1"
    assert parse_degradations(parse_degradations("all").spec()) == parse_degradations("all")


@pytest.mark.parametrize(
    "spec, words",
    [("sparkle=1", "unknown degradation 'sparkle'"), ("grain=-1", "0 or more"), ("grain=x", "must be a number"),
     ("grainy", "unknown degradation set 'grainy'")],
)
def test_a_bad_spec_is_named(spec, words):
    with pytest.raises(DegradationError, match=words):
        parse_degradations(spec)


def test_the_same_seed_gives_the_same_frames_and_another_seed_other_ones():
    frames = _textured()
    spec = parse_degradations("all")
    first, again, other = (degrade(frames, spec, seed).greys for seed in (3, 3, 4))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_nothing_active_returns_the_frames_and_results_are_8_bit():
    frames = _textured()
    assert degrade(frames, Degradations()).greys == frames
    out = degrade(frames, parse_degradations("grain=1")).greys
    assert all(torch.equal(f * 255, (f * 255).round()) for f in out)
    assert out[0].shape == frames[0].shape


def test_a_degradation_is_the_same_whichever_others_are_on():
    frames = _flat()
    alone = degrade(frames, parse_degradations("flicker=1"), 5).greys
    with_scratch = degrade(frames, parse_degradations("flicker=1,scratch=1"), 5).greys
    # away from the scratch the frames are identical
    same = [(a == b).float().mean() for a, b in zip(alone, with_scratch, strict=True)]
    assert min(same) > 0.9


def test_flicker_changes_each_frames_brightness_by_a_few_percent():
    out = degrade(_flat(count=40), parse_degradations("flicker=1"), 1).greys
    means = torch.stack([f.mean() for f in out])
    assert 0.005 < float(means.std()) < 0.04  # about 3 % of 0.5 in gain plus 3 levels of offset
    # and the brightness varies across each frame (the slow tilt)
    spans = [float(f[:, :20].mean() - f[:, -20:].mean()) for f in out]
    assert max(abs(s) for s in spans) > 2 / 255


def test_grain_has_about_five_levels_of_noise_at_mid_grey_and_is_clumped():
    out = degrade(_flat(count=4), parse_degradations("grain=1"), 2).greys
    noise = torch.stack(out) - 0.5
    assert 3.5 / 255 < float(noise.std()) < 6.5 / 255
    # clumped: neighbouring pixels are correlated, unlike white noise
    correlation = torch.corrcoef(torch.stack([noise[:, :, :-1].flatten(), noise[:, :, 1:].flatten()]))[0, 1]
    assert correlation > 0.3


def test_weave_moves_each_frame_and_the_truth_chroma_with_it():
    frames = _textured(count=8)
    chroma = [torch.stack([f - 0.5, 0.5 - f]) * 0.2 for f in frames]  # chroma shaped like the grey
    out = degrade(frames, parse_degradations("weave=2"), 3, chroma=chroma)
    assert out.chroma is not None
    moved = [float((a - b).abs().mean()) for a, b in zip(out.greys, frames, strict=True)]
    assert max(moved) > 0.01
    for grey, colour in zip(out.greys, out.chroma, strict=True):
        # the moved chroma still matches the moved grey (up to 8-bit rounding)
        assert float((colour[0] - (grey - 0.5) * 0.2).abs().max()) < 0.2 / 255 + 1e-4


def test_dust_marks_few_pixels_on_single_frames():
    out = degrade(_flat(count=10), parse_degradations("dust=2"), 4).greys
    marked = [(f - 0.5).abs() > 0.2 for f in out]
    counts = [int(m.sum()) for m in marked]
    assert sum(counts) > 0 and max(counts) < 0.02 * 96 * 160
    # a speck is not repeated on the next frame
    assert all(int((a & b).sum()) < max(1, 0.5 * int(a.sum())) for a, b in zip(marked, marked[1:], strict=False))


def test_a_scratch_is_a_vertical_line_through_every_frame():
    # sizes are given for frames 480 lines high
    out = degrade([torch.full((480, 160), 0.5) for _ in range(6)], parse_degradations("scratch=1"), 6).greys
    for frame in out:
        column = (frame - 0.5).abs().mean(dim=0)
        assert float(column.max()) > 0.03 and int((column > 0.02).sum()) <= 6


def test_blur_removes_detail():
    frames = [f + 0.05 * torch.sin(torch.arange(160.0) * 2.5) for f in _textured(count=2, height=480)]
    out = degrade(frames, parse_degradations("blur=2"), 0).greys

    def detail(frame: torch.Tensor) -> float:
        return float((frame[:, 1:] - frame[:, :-1]).abs().mean())

    assert detail(out[0]) < 0.8 * detail(frames[0])


def test_compression_loses_more_the_stronger_it_is():
    frames = [(f * 255).round() / 255 for f in _textured(count=2, height=240)]
    errors = [
        float((degrade(frames, parse_degradations(f"compression={s}"), 0).greys[0] - frames[0]).square().mean().sqrt())
        for s in (0.5, 1, 2)
    ]
    assert 0.5 / 255 < errors[0] < errors[1] < errors[2] < 12 / 255
