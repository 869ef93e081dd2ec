"""Keyframes as image files, arrays, frames or a colour clip; several shots in one clip.

Expected chroma comes from VapourSynth's own conversion (zimg: RGB to YUV444PS with the matrix),
never from dvcp's conversion functions.
"""

from __future__ import annotations

import numpy as np
import pytest
import vapoursynth as vs

import dvcp_plugin
from dvcp_plugin.filters.images import write_image

LENGTH = 10
MATRIX_NAMES = {"601": "170m", "709": "709"}


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


def vs_chroma(image, matrix="601"):
    """Zero-centred Cb, Cr (2,H,W) of an RGB image, converted by VapourSynth's resizer."""
    rgb = _rgb_clip([image])
    return _chroma(rgb.resize.Point(format=vs.YUV444PS, matrix_s=MATRIX_NAMES[matrix]).get_frame(0))


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
    want_first, want_second = vs_chroma(first), vs_chroma(second)
    np.testing.assert_allclose(_chroma(out.get_frame(5)), want_second, atol=2e-4)
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
    np.testing.assert_allclose(_chroma(out.get_frame(0)), vs_chroma(first), atol=2e-4)
    np.testing.assert_allclose(_chroma(out.get_frame(6)), vs_chroma(second), atol=2e-4)
    explicit = dvcp_plugin.colorize(clip, key_clip, keyframe_frames=[0, 3], format=vs.YUV444PS, **opts)
    np.testing.assert_allclose(_chroma(explicit.get_frame(3)), vs_chroma(first), atol=2e-4)


def test_yuv_keyframe_clip_in_another_matrix_is_reencoded(make_clip, key_image, opts):
    key = key_image()
    key_709 = _rgb_clip([key] * 2).resize.Point(format=vs.YUV444P16, matrix_s="709")
    out = dvcp_plugin.colorize(make_clip(length=2), key_709, format=vs.YUV444PS, **opts)
    np.testing.assert_allclose(_chroma(out.get_frame(0)), vs_chroma(key, "601"), atol=2e-3)


def test_global_match_carries_its_confidence(make_clip, key_image, opts):
    out = dvcp_plugin.global_match(make_clip(length=4), {0: key_image()}, **opts)
    for n in range(4):
        conf = out.get_frame(n).props["DvcpConfidence"]
        assert conf.format.id == vs.GRAYS and (conf.width, conf.height) == (out.width, out.height)
        values = np.asarray(conf[0])
        assert np.all((values >= 0) & (values <= 1 + 1e-6))
        if n == 0:
            assert np.all(values == 1)


@pytest.mark.parametrize("matrix", ["601", "709"])
def test_keyframe_chroma_is_vapoursynths_conversion(make_clip, key_image, opts, tmp_path, matrix):
    """Every kind of keyframe gives, at its frame, the chroma that VapourSynth's resizer computes."""
    key = key_image(seed=5)
    deep = key.astype(np.uint16) * 257
    write_image(tmp_path / "key16.png", deep)
    kinds = {
        "uint8 array": key,
        "16-bit PNG": tmp_path / "key16.png",
        "float array": key.astype(np.float32) / 255,
        "RGB frame": _rgb_clip([key]).get_frame(0),
        "YUV444 frame (709)": _rgb_clip([key]).resize.Point(format=vs.YUV444P16, matrix_s="709").get_frame(0),
        "YUV444 frame (full range)": _rgb_clip([key]).resize.Point(
            format=vs.YUV444P16, matrix_s=MATRIX_NAMES[matrix], range_s="full"
        ).get_frame(0),
    }
    want = vs_chroma(key, matrix)
    clip = make_clip(length=2)
    for kind, value in kinds.items():
        out = dvcp_plugin.colorize(clip, {0: value}, format=vs.YUV444PS, matrix=matrix, **opts)
        np.testing.assert_allclose(_chroma(out.get_frame(0)), want, atol=2e-4, err_msg=kind)


def test_420_keyframe_frame_is_taken_like_a_420_keyframe_clip(make_clip, key_image, opts, planes):
    key_420 = _rgb_clip([key_image(seed=3)] * 2).resize.Bicubic(format=vs.YUV420P8, matrix_s="170m")
    clip = make_clip(length=4)
    from_frame = dvcp_plugin.colorize(clip, {0: key_420.get_frame(0)}, format=vs.YUV444PS, **opts)
    from_clip = dvcp_plugin.colorize(clip, key_420, format=vs.YUV444PS, **opts)
    for n in range(4):
        for got, want in zip(planes(from_frame.get_frame(n)), planes(from_clip.get_frame(n)), strict=True):
            np.testing.assert_array_equal(got, want)
    upsampled = _chroma(key_420.resize.Bicubic(format=vs.YUV444PS).get_frame(0))
    np.testing.assert_allclose(_chroma(from_frame.get_frame(0)), upsampled, atol=1 / 224)


def test_grey_png_with_alpha_is_not_taken_for_colour(make_clip, key_image, opts, tmp_path):
    from PIL import Image

    grey_alpha = np.dstack([key_image()[:, :, 1], np.full((48, 64), 255, np.uint8)])
    Image.fromarray(grey_alpha, "LA").save(tmp_path / "grey-alpha.png")
    grey_message = r"dvcp\.colorize: keyframe image .*grey-alpha\.png is grey; a keyframe must be a colour"
    with pytest.raises(vs.Error, match=grey_message):
        dvcp_plugin.colorize(make_clip(length=2), {0: tmp_path / "grey-alpha.png"}, **opts)


def test_float_keyframe_in_0_255_is_refused(make_clip, key_image, opts):
    message = r"dvcp\.colorize: .*float values from \d+ to \d+; a float keyframe must be in \[0, 1\]"
    with pytest.raises(vs.Error, match=message):
        dvcp_plugin.colorize(make_clip(length=2), {0: key_image().astype(np.float32)}, **opts)


def test_keyframe_without_colour_is_warned_about(make_clip, key_image, opts, core):
    messages = []
    handle = core.add_log_handler(lambda kind, text: messages.append((kind, text)))
    try:
        grey = np.repeat(key_image()[:, :, 1:2], 3, axis=2)
        dvcp_plugin.colorize(make_clip(length=2), {0: grey}, **opts)
        coloured = len(messages)
        dvcp_plugin.colorize(make_clip(length=2), {0: key_image()}, **opts)
    finally:
        core.remove_log_handler(handle)
    warnings = [text for kind, text in messages if kind == vs.MESSAGE_TYPE_WARNING]
    assert len(warnings) == 1 and "the keyframe for frame 0 has (almost) no colour" in warnings[0]
    assert len(messages) == coloured  # a coloured keyframe is not warned about


@pytest.mark.parametrize(
    ("code", "name"), [(vs.MATRIX_BT709, "709"), (vs.MATRIX_ST170_M, "601"), (vs.MATRIX_BT470_BG, "601")]
)
def test_matrix_takes_vapoursynth_matrix_values(make_clip, key_image, opts, planes, code, name):
    clip, keys = make_clip(length=3), {0: key_image()}
    by_code = dvcp_plugin.colorize(clip, keys, matrix=code, **opts)
    by_name = dvcp_plugin.colorize(clip, keys, matrix=name, **opts)
    for got, want in zip(planes(by_code.get_frame(2)), planes(by_name.get_frame(2)), strict=True):
        np.testing.assert_array_equal(got, want)


def test_frame_0_is_not_read_when_the_matrix_is_given(make_clip, key_image, opts):
    requested = []
    clip = make_clip(length=3)
    counted = vs.core.std.ModifyFrame(clip, clip, lambda n, f: requested.append(n) or f)
    keys = {0: key_image()}
    local = dvcp_plugin.local_propagate(counted, keys, matrix="601", **opts)
    glob = dvcp_plugin.global_match(counted, keys, matrix="601", **opts)
    dvcp_plugin.colorize(counted, keys, matrix="709", **opts)
    dvcp_plugin.refine(counted, local, glob, matrix="601")
    dvcp_plugin.refine(counted, local, local, matrix="601", **opts)
    assert requested == []
