"""Shots without keyframes are found before rendering; a cut without a keyframe can continue the shot."""

from __future__ import annotations

import numpy as np
import pytest
import vapoursynth as vs

import dvcp_plugin
from dvcp_plugin.runtime.shot_list import Shot

CUTS = [5, 12]


def _key_clip(length: int) -> vs.VideoNode:
    return vs.core.std.BlankClip(format=vs.RGB24, width=64, height=48, length=length, color=[200, 60, 30])


def test_shots_lists_every_shot_and_its_keyframes_without_colouring(make_clip, monkeypatch):
    clip = make_clip(length=20, scene_changes=CUTS)
    monkeypatch.setattr("dvcp_plugin.runtime.pipeline.Engine", None)  # nothing may be built or coloured
    found = dvcp_plugin.shots(clip, {0: "unread.png", 12: "unread.png", 15: "unread.png"})
    assert found == [Shot(0, 4, (0,)), Shot(5, 11, ()), Shot(12, 19, (12, 15))]
    assert [shot.keyed for shot in found] == [True, False, True]
    assert [shot.frames for shot in found] == [5, 7, 8]
    assert dvcp_plugin.shots(clip) == [Shot(0, 4, ()), Shot(5, 11, ()), Shot(12, 19, ())]


def test_shots_with_a_keyframe_clip_take_keyframes_at_cuts_inside_it(make_clip):
    clip = make_clip(length=20, scene_changes=CUTS)
    assert dvcp_plugin.shots(clip, _key_clip(20)) == [Shot(0, 4, (0,)), Shot(5, 11, (5,)), Shot(12, 19, (12,))]
    short = dvcp_plugin.shots(clip, _key_clip(8), keyframe_frames=[0, 2])
    assert short == [Shot(0, 4, (0, 2)), Shot(5, 11, (5,)), Shot(12, 19, ())]


def test_shots_with_unkeyed_cuts_continuing(make_clip):
    clip = make_clip(length=20, scene_changes=CUTS)
    found = dvcp_plugin.shots(clip, {0: "a.png", 12: "b.png"}, unkeyed_cuts="continue")
    assert found == [Shot(0, 11, (0,)), Shot(12, 19, (12,))]


def test_shots_errors_name_the_function(make_clip):
    clip = make_clip(length=6)
    for keys, options, message in [
        (5, {}, "keyframes must be a colour clip, a mapping {frame: image} or None, not int"),
        ({9: "k.png"}, {}, "keyframe at frame 9 is out of range"),
        (None, {"unkeyed_cuts": "skip"}, "unkeyed_cuts='skip' must be 'error' or 'continue'"),
        ("clip", {"keyframe_frames": [7]}, "keyframe at frame 7 is out of range"),
    ]:
        with pytest.raises(vs.Error, match=r"^dvcp\.shots: ") as info:
            dvcp_plugin.shots(clip, _key_clip(6) if keys == "clip" else keys, **options)
        assert message in str(info.value)


def test_a_cut_without_keyframe_continues_the_shot_when_asked(make_clip, key_image, opts, planes):
    clip = make_clip(length=10, scene_changes=[5])
    keys = {0: key_image()}
    with pytest.raises(vs.Error, match="frame 5 starts a new shot"):
        dvcp_plugin.colorize(clip, keys, **opts).get_frame(7)
    continued = dvcp_plugin.colorize(clip, keys, unkeyed_cuts="continue", **opts)
    uncut = dvcp_plugin.colorize(vs.core.std.RemoveFrameProps(clip, "_SceneChangePrev"), keys, **opts)
    for n in (4, 5, 9):
        for got, want in zip(planes(continued.get_frame(n)), planes(uncut.get_frame(n)), strict=True):
            np.testing.assert_array_equal(got, want)
    # a cut with a keyframe still starts its shot there
    keyed = dvcp_plugin.colorize(clip, {0: key_image(), 5: key_image(seed=4)}, unkeyed_cuts="continue", **opts)
    strict = dvcp_plugin.colorize(clip, {0: key_image(), 5: key_image(seed=4)}, **opts)
    for got, want in zip(planes(keyed.get_frame(7)), planes(strict.get_frame(7)), strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_scene_detector_from_the_package_registry_gives_the_shots(key_image, opts):
    if not hasattr(vs.core, "scxvid"):
        pytest.skip("vapoursynth-scxvid is not installed (the scenes extra: pip install '.[scenes]')")
    from fractions import Fraction

    from dvcp_plugin.filters.arrays import array_clip
    from dvcp_plugin.media.demo_shot import make_shot
    from dvcp_plugin.models.color import grey_u8

    grey = np.concatenate([grey_u8(make_shot(8, 48, 64, seed=1)), 255 - grey_u8(make_shot(8, 48, 64, seed=2))])
    clip = array_clip(lambda n: grey[n], len(grey), grey[0], Fraction(24), lambda n: f"frame {n}")
    cuts = vs.core.scxvid.Scxvid(clip.resize.Bicubic(format=vs.YUV420P8))  # as the README shows it
    clip = vs.core.std.CopyFrameProps(clip, cuts, props=["_SceneChangePrev"])
    assert dvcp_plugin.shots(clip, {0: "unread.png"}) == [Shot(0, 7, (0,)), Shot(8, 15, ())]
    out = dvcp_plugin.colorize(clip, {0: key_image(), 8: key_image(1)}, **opts)
    assert out.get_frame(15).props["_SceneChangePrev"] == 0 and out.get_frame(8).props["_SceneChangePrev"] == 1
