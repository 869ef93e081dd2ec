"""Output formats: luma kept bit-exactly, chroma encoded right, colour properties set right."""

from __future__ import annotations

import numpy as np
import pytest
import vapoursynth as vs

import dvcp_plugin
from dvcp_plugin.filters.convert import array_chroma

SHORT = 4


def _out(clip, key, opts, **kw):
    return dvcp_plugin.colorize(clip, {0: key}, **opts, **kw)


@pytest.mark.parametrize(
    ("fmt", "props", "out_fmt", "expected"),
    [
        (vs.YUV420P8, {}, None, lambda y: y.astype(np.uint32) << 8),  # limited: shift
        (vs.YUV420P8, {"_Range": vs.RANGE_FULL}, None, lambda y: y.astype(np.uint32) * 257),  # full: x257
        (vs.YUV420P10, {}, vs.YUV444P10, lambda y: y),  # same depth: copied
        (vs.GRAY16, {}, None, lambda y: y),
        (vs.YUV444P10, {}, vs.YUV444PS, lambda y: ((y / 4.0 - 16.0) / 219.0).astype(np.float32)),
        (vs.GRAYS, {}, None, lambda y: y),
    ],
)
def test_luma_is_kept_bit_exactly(make_clip, key_image, opts, fmt, props, out_fmt, expected):
    clip = make_clip(fmt, length=SHORT, props=props)
    out = _out(clip, key_image(), opts, format=out_fmt)
    default = vs.YUV444PS if clip.format.sample_type == vs.FLOAT else vs.YUV444P16
    assert out.format.id == (out_fmt or default)
    for n in range(SHORT):
        y_in = np.asarray(clip.get_frame(n)[0])
        y_out = np.asarray(out.get_frame(n)[0])
        np.testing.assert_array_equal(y_out, expected(y_in))


def test_luma_widening_is_reversible(make_clip, key_image, opts):
    for rng in (vs.RANGE_LIMITED, vs.RANGE_FULL):
        clip = make_clip(vs.YUV420P10, length=2, props={"_Range": rng})
        out = _out(clip, key_image(), opts)
        y_in = np.asarray(clip.get_frame(1)[0]).astype(np.int64)
        y_out = np.asarray(out.get_frame(1)[0]).astype(np.int64)
        back = y_out >> 6 if rng == vs.RANGE_LIMITED else np.rint(y_out * 1023 / 65535).astype(np.int64)
        np.testing.assert_array_equal(back, y_in)


def test_rgb_input_luma_is_the_matrix_luma(make_clip, key_image, opts):
    clip = make_clip(vs.RGB24, length=2)  # grey texture: R = G = B, so luma = R
    out = _out(clip, key_image(), opts)
    r = np.asarray(clip.get_frame(1)[0]).astype(np.uint32)
    frame = out.get_frame(1)
    np.testing.assert_array_equal(np.asarray(frame[0]), r * 257)
    assert frame.props["_Range"] == vs.RANGE_FULL


def test_keyframe_outputs_its_own_chroma_as_zimg_converts_it(make_clip, key_image, opts):
    key = key_image()
    out = _out(make_clip(length=SHORT), key, opts, format=vs.YUV444PS)
    got = np.stack([np.asarray(out.get_frame(0)[i]) for i in (1, 2)])
    np.testing.assert_array_equal(got, array_chroma(key, "601", "key").numpy())
    rgb = vs.core.std.BlankClip(format=vs.RGB24, width=key.shape[1], height=key.shape[0], length=1)
    rgb = vs.core.std.ModifyFrame(rgb, rgb, lambda n, f: _write_rgb(f, key))
    zimg = rgb.resize.Point(format=vs.YUV444PS, matrix_s="170m").get_frame(0)
    # kornia's BT.601 uses rounded coefficients (0.564, 0.713): a few 1e-5 from zimg's
    np.testing.assert_allclose(got, np.stack([np.asarray(zimg[i]) for i in (1, 2)]), atol=1e-4)


def _write_rgb(frame, image):
    out = frame.copy()
    for i in range(3):
        np.asarray(out[i])[...] = image[:, :, i]
    return out


def test_integer_chroma_matches_float_chroma(make_clip, key_image, opts):
    clip = make_clip(length=SHORT)
    as_float = _out(clip, key_image(), opts, format=vs.YUV444PS)
    as_int = _out(clip, key_image(), opts)
    for n in range(SHORT):
        c_float = np.stack([np.asarray(as_float.get_frame(n)[i]) for i in (1, 2)]).astype(np.float64)
        c_int = np.stack([np.asarray(as_int.get_frame(n)[i]) for i in (1, 2)])
        # limited 16-bit chroma: (c * 224 + 128) * 256, rounded
        np.testing.assert_array_equal(c_int, np.clip(np.rint((c_float * 224 + 128) * 256), 0, 65535))
    assert np.ptp(c_int) > 1000  # coloured, not neutral


def test_rgb_output_is_luma_plus_chroma_through_the_matrix(make_clip, key_image, opts):
    clip = make_clip(vs.GRAY16, length=SHORT)
    yuv = _out(clip, key_image(), opts)  # GRAY: full range
    rgbs = _out(clip, key_image(), opts, format=vs.RGBS)
    rgb48 = _out(clip, key_image(), opts, format=vs.RGB48)
    zimg = yuv.resize.Point(format=vs.RGBS)
    for n in range(SHORT):
        ours, ref = rgbs.get_frame(n), zimg.get_frame(n)
        assert ours.props["_Matrix"] == vs.MATRIX_RGB and ours.props["_Range"] == vs.RANGE_FULL
        for i in range(3):
            expected = np.clip(np.asarray(ref[i]), 0, 1)
            # 16-bit chroma quantisation and kornia's rounded BT.601 coefficients: < 1/8 of an 8-bit step
            np.testing.assert_allclose(np.asarray(ours[i]), expected, atol=5e-4)
            np.testing.assert_array_equal(
                np.asarray(rgb48.get_frame(n)[i]), np.rint(np.asarray(ours[i]).astype(np.float64) * 65535)
            )


def test_properties_are_carried_and_colour_properties_set(make_clip, key_image, opts):
    props = {"MyProp": 42, "_ChromaLocation": 0, "_FieldBased": 0}
    frame = _out(make_clip(length=2, props=props), key_image(), opts).get_frame(1)
    assert frame.props["MyProp"] == 42 and frame.props["_FieldBased"] == 0
    assert "_ChromaLocation" not in frame.props
    assert frame.props["_Matrix"] == vs.MATRIX_ST170_M
    assert frame.props["_Primaries"] == vs.PRIMARIES_ST170_M
    assert frame.props["_Transfer"] == vs.TRANSFER_BT601
    assert frame.props["_Range"] == vs.RANGE_LIMITED
    assert frame.props["_DurationNum"] == 1


def test_bt709_input_gives_bt709_output_and_keeps_known_primaries(make_clip, key_image, opts):
    props = {"_Matrix": vs.MATRIX_BT709, "_Primaries": vs.PRIMARIES_BT2020}
    clip = make_clip(length=2, props=props)
    out = _out(clip, key_image(), opts, format=vs.YUV444PS)
    frame = out.get_frame(0)
    assert frame.props["_Matrix"] == vs.MATRIX_BT709
    assert frame.props["_Primaries"] == vs.PRIMARIES_BT2020
    assert frame.props["_Transfer"] == vs.TRANSFER_BT709
    got = np.stack([np.asarray(frame[i]) for i in (1, 2)])
    np.testing.assert_array_equal(got, array_chroma(key_image(), "709", "key").numpy())


def test_bad_output_formats_are_refused(make_clip, key_image, opts):
    with pytest.raises(vs.Error, match=r"dvcp\.colorize: format YUV420P16 is not an output format"):
        _out(make_clip(length=2), key_image(), opts, format=vs.YUV420P16)
    with pytest.raises(vs.Error, match=r"dvcp\.colorize: format YUV444P8 is shallower"):
        _out(make_clip(vs.YUV420P10, length=2), key_image(), opts, format=vs.YUV444P8)
    with pytest.raises(vs.Error, match=r"cannot keep float luma bit-exactly"):
        _out(make_clip(vs.GRAYS, length=2), key_image(), opts, format=vs.YUV444P16)


@pytest.mark.parametrize(("matrix", "resizer"), [("170m", "170m"), ("470bg", "470bg"), ("709", "709"),
                                                 (vs.MATRIX_BT470_BG, "470bg"), (vs.MATRIX_BT709, "709")])
def test_matrix_takes_the_resizers_names_and_codes(make_clip, key_image, opts, matrix, resizer):
    key = key_image()
    out = _out(make_clip(length=SHORT), key, {**opts, "matrix": matrix}, format=vs.YUV444PS)
    frame = out.get_frame(0)
    rgb = vs.core.std.BlankClip(format=vs.RGB24, width=key.shape[1], height=key.shape[0], length=1)
    rgb = vs.core.std.ModifyFrame(rgb, rgb, lambda n, f: _write_rgb(f, key))
    zimg = rgb.resize.Point(format=vs.YUV444PS, matrix_s=resizer).get_frame(0)  # the resizer's own conversion
    got = np.stack([np.asarray(frame[i]) for i in (1, 2)])
    np.testing.assert_allclose(got, np.stack([np.asarray(zimg[i]) for i in (1, 2)]), atol=1e-4)
    assert frame.props["_Matrix"] in ((vs.MATRIX_BT709,) if resizer == "709" else (vs.MATRIX_ST170_M,
                                                                                  vs.MATRIX_BT470_BG))
