"""Several keyframes in one shot, through real VapourSynth cores: frames are coloured from the keyframes
before and after them, a keyframe at the last frame alone colours the shot backward, and a keyframe
clip takes ``keyframe_frames`` anywhere."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import vapoursynth as vs

import dvcp_plugin
from dvcp_plugin.evaluation.metrics import psnr
from dvcp_plugin.filters.convert import array_chroma
from dvcp_plugin.media.demo_shot import make_shot
from dvcp_plugin.models.color import grey_u8
from dvcp_plugin.options import EngineOptions
from dvcp_plugin.runtime.engine import Engine
from dvcp_plugin.runtime.sequential import propagate_shot

LENGTH, HEIGHT, WIDTH = 16, 48, 64
LAST = LENGTH - 1


@pytest.fixture(scope="module")
def truth() -> np.ndarray:
    """A colour shot whose objects move several pixels a frame: (N,H,W,3) uint8."""
    return make_shot(LENGTH, HEIGHT, WIDTH, seed=2)


def _clip(frames: np.ndarray, fmt: int) -> vs.VideoNode:
    blank = vs.core.std.BlankClip(format=fmt, width=WIDTH, height=HEIGHT, length=len(frames), keep=True)

    def draw(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        planes = [frames[n]] if frames.ndim == 3 else [frames[n][:, :, i] for i in range(3)]
        for i, plane in enumerate(planes):
            np.asarray(out[i])[...] = plane
        return out

    return vs.core.std.ModifyFrame(blank, blank, draw)


def _grey_clip(truth: np.ndarray) -> vs.VideoNode:
    return _clip(np.stack([grey_u8(frame) for frame in truth]), vs.GRAY8)


def _rgb(node: vs.VideoNode, n: int) -> np.ndarray:
    frame = node.get_frame(n)
    return np.dstack([np.asarray(frame[i]) for i in range(3)])


def test_keyframes_at_both_ends_colour_the_end_of_the_shot_better_than_one_at_the_start(truth, opts):
    clip = _grey_clip(truth)
    both = dvcp_plugin.colorize(clip, {0: truth[0], LAST: truth[LAST]}, format=vs.RGB24, **opts)
    first = dvcp_plugin.colorize(clip, {0: truth[0]}, format=vs.RGB24, **opts)
    near_end = range(LAST - 4, LAST)
    gain = np.mean([psnr(_rgb(both, n), truth[n]) - psnr(_rgb(first, n), truth[n]) for n in near_end])
    assert gain > 1.0, gain
    for n in (0, LAST):  # a keyframe shows its own colours
        assert psnr(_rgb(both, n), truth[n]) > 35


def test_a_keyframe_at_the_last_frame_alone_colours_the_shot_backward(truth, opts, weights):
    clip = _grey_clip(truth)
    out = dvcp_plugin.colorize(clip, {LAST: truth[LAST]}, format=vs.YUV444PS, **opts)
    engine = Engine(EngineOptions(weights=weights, threads=1))
    greys = [torch.from_numpy(grey_u8(frame).astype(np.float32) / 255) for frame in truth]
    expected = list(propagate_shot(engine, greys, {LAST: array_chroma(truth[LAST], "601", "key")}))
    for n in (0, 7, LAST - 1):
        want = engine.to_full(expected[n].final, (HEIGHT, WIDTH)).numpy()
        frame = out.get_frame(n)
        got = np.stack([np.asarray(frame[1]), np.asarray(frame[2])])
        np.testing.assert_array_equal(got, want, err_msg=f"frame {n}")
    # backward is forward in reversed time: the reversed clip coloured from its first frame is the same
    reversed_ = dvcp_plugin.colorize(clip.std.Reverse(), {0: truth[LAST]}, format=vs.YUV444PS, **opts)
    for n in (0, 7, LAST - 1):
        for i in (1, 2):
            np.testing.assert_array_equal(np.asarray(out.get_frame(n)[i]), np.asarray(reversed_.get_frame(LAST - n)[i]))


def test_a_keyframe_clip_with_keyframe_frames_equals_the_same_mapping(truth, opts, planes):
    clip = _grey_clip(truth)
    keys = _clip(truth, vs.RGB24)
    from_clip = dvcp_plugin.colorize(clip, keys, keyframe_frames=[4, 11], **opts)
    from_mapping = dvcp_plugin.colorize(clip, {4: truth[4], 11: truth[11]}, **opts)
    for n in (0, 4, 8, LAST):
        for got, want in zip(planes(from_clip.get_frame(n)), planes(from_mapping.get_frame(n)), strict=True):
            np.testing.assert_array_equal(got, want, err_msg=f"frame {n}")


def test_local_and_global_views_between_two_keyframes_are_blends_with_a_confidence(truth, opts):
    clip = _grey_clip(truth)
    keys = {0: truth[0], LAST: truth[LAST]}
    glob = dvcp_plugin.global_match(clip, keys, format=vs.YUV444PS, **opts)
    local = dvcp_plugin.local_propagate(clip, keys, format=vs.YUV444PS, **opts)
    for n in (3, 9):
        confidence = np.asarray(glob.get_frame(n).props["DvcpConfidence"][0])
        assert confidence.shape == (HEIGHT, WIDTH) and 0 <= confidence.min() <= confidence.max() <= 1
        assert not np.array_equal(np.asarray(local.get_frame(n)[1]), np.asarray(glob.get_frame(n)[1]))
    assert np.all(np.asarray(glob.get_frame(LAST).props["DvcpConfidence"][0]) == 1)
