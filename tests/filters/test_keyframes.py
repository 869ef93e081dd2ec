"""Keyframes as image files, arrays, frames or a colour clip; several shots in one clip."""

from __future__ import annotations

import numpy as np
import vapoursynth as vs

import dvcp_plugin
from dvcp_plugin.filters.convert import array_chroma
from dvcp_plugin.filters.images import write_image

LENGTH = 10


def _rgb_clip(images):
    """An RGB24 clip whose frame n is ``images[n]``."""
    h, w, _ = images[0].shape
    blank = vs.core.std.BlankClip(format=vs.RGB24, width=w, height=h, length=len(images), keep=True)

    def draw(n, f):
        out = f.copy()
        for i in range(3):
            np.asarray(out[i])[...] = images[n][:, :, i]
        return out

    return vs.core.std.ModifyFrame(blank, blank, draw)


def _chroma(frame):
    return np.stack([np.asarray(frame[i]) for i in (1, 2)])


def test_path_array_frame_and_clip_keyframes_give_the_same_frames(make_clip, key_image, opts, tmp_path, planes):
    clip = make_clip(length=LENGTH)
    key = key_image()
    path = tmp_path / "key.png"
    write_image(path, key)
    key_clip = _rgb_clip([key] * LENGTH)
    outputs = [
        dvcp_plugin.colorize(clip, {0: path}, **opts),
        dvcp_plugin.colorize(clip, {0: str(path)}, **opts),
        dvcp_plugin.colorize(clip, {0: key}, **opts),
        dvcp_plugin.colorize(clip, {0: key_clip.get_frame(0)}, **opts),
        dvcp_plugin.colorize(clip, key_clip, **opts),
    ]
    reference = [planes(outputs[0].get_frame(n)) for n in range(LENGTH)]
    for out in outputs[1:]:
        for n in range(LENGTH):
            for got, want in zip(planes(out.get_frame(n)), reference[n], strict=True):
                np.testing.assert_array_equal(got, want)


def test_each_shot_takes_the_colours_of_its_own_keyframe(make_clip, key_image, opts):
    clip = make_clip(length=LENGTH, scene_changes=[5])
    first, second = key_image(seed=1), key_image(seed=2)
    out = dvcp_plugin.colorize(clip, {0: first, 5: second}, format=vs.YUV444PS, **opts)
    want_first, want_second = array_chroma(first, "601", "").numpy(), array_chroma(second, "601", "").numpy()
    np.testing.assert_array_equal(_chroma(out.get_frame(5)), want_second)
    for n in range(1, 5):
        got = _chroma(out.get_frame(n))
        assert np.abs(got - want_first).mean() < np.abs(got - want_second).mean()
    for n in range(6, LENGTH):
        got = _chroma(out.get_frame(n))
        assert np.abs(got - want_second).mean() < np.abs(got - want_first).mean()


def test_scene_change_takes_its_keyframe_from_the_keyframe_clip(make_clip, key_image, opts):
    first, second = key_image(seed=1), key_image(seed=2)
    clip = make_clip(length=LENGTH, scene_changes=[6])
    key_clip = _rgb_clip([first] * 6 + [second] * (LENGTH - 6))
    out = dvcp_plugin.colorize(clip, key_clip, format=vs.YUV444PS, **opts)  # keyframe_frames: [0]
    np.testing.assert_array_equal(_chroma(out.get_frame(0)), array_chroma(first, "601", "").numpy())
    np.testing.assert_array_equal(_chroma(out.get_frame(6)), array_chroma(second, "601", "").numpy())
    explicit = dvcp_plugin.colorize(clip, key_clip, keyframe_frames=[0, 3], format=vs.YUV444PS, **opts)
    np.testing.assert_array_equal(_chroma(explicit.get_frame(3)), array_chroma(first, "601", "").numpy())


def test_yuv_keyframe_clip_in_another_matrix_is_reencoded(make_clip, key_image, opts):
    key = key_image()
    key_709 = _rgb_clip([key] * 2).resize.Point(format=vs.YUV444P16, matrix_s="709")
    out = dvcp_plugin.colorize(make_clip(length=2), key_709, format=vs.YUV444PS, **opts)
    np.testing.assert_allclose(_chroma(out.get_frame(0)), array_chroma(key, "601", "").numpy(), atol=2e-3)


def test_global_match_carries_its_confidence(make_clip, key_image, opts):
    out = dvcp_plugin.global_match(make_clip(length=4), {0: key_image()}, **opts)
    for n in range(4):
        conf = out.get_frame(n).props["DvcpConfidence"]
        assert conf.format.id == vs.GRAYS and (conf.width, conf.height) == (out.width, out.height)
        values = np.asarray(conf[0])
        assert np.all((values >= 0) & (values <= 1 + 1e-6))
        if n == 0:
            assert np.all(values == 1)
