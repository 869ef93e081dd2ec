"""Bad input is a vs.Error that names the function and the problem."""

from __future__ import annotations

import re

import pytest
import vapoursynth as vs

import dvcp_plugin


def _error(function, *args, **kwargs) -> str:
    with pytest.raises(vs.Error) as info:
        getattr(dvcp_plugin, function)(*args, **kwargs)
    return str(info.value)


@pytest.mark.parametrize("function", ["colorize", "local_propagate", "global_match"])
def test_construction_errors_name_function_and_problem(function, make_clip, key_image, opts, tmp_path):
    clip = make_clip(length=6)
    key = key_image()
    cases = {
        "different sizes": (clip, {0: key_image(height=32)}, {}, r"is 64x32 but the clip is 64x48"),
        "keyframe clip size": (
            clip, vs.core.std.BlankClip(format=vs.RGB24, width=32, height=48), {},
            r"the keyframe clip is 32x48 but the clip is 64x48",
        ),
        "variable format": (
            vs.core.std.Splice([clip, clip.resize.Point(format=vs.YUV444P8)], mismatch=True), {0: key}, {},
            r"the clip has a variable format",
        ),
        "no first keyframe": (clip, {2: key}, {}, r"the first shot has no keyframe.*give one at frame 0"),
        "keyframe out of range": (clip, {0: key, 9: key}, {}, r"keyframe at frame 9 is out of range: the clip has 6 frames"),
        "keyframe clip too short": (
            clip, vs.core.std.BlankClip(format=vs.RGB24, width=64, height=48, length=2),
            {"keyframe_frames": [0, 4]}, r"keyframe at frame 4 is out of range: the keyframe clip has 2 frames",
        ),
        "grey keyframe": (clip, {0: key[:, :, 0]}, {}, r"is grey; a keyframe must be a colour"),
        "missing image": (clip, {0: tmp_path / "nope.png"}, {}, r"image file .*nope\.png does not exist"),
    }
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    cases["unreadable image"] = (clip, {0: tmp_path / "broken.png"}, {}, r"cannot read image file .*broken\.png")
    for name, (c, keys, extra, pattern) in cases.items():
        message = _error(function, c, keys, **{**opts, **extra})
        assert message.startswith(f"dvcp.{function}: "), (name, message)
        assert re.search(pattern, message), (name, message)


@pytest.mark.parametrize("function", ["colorize", "global_match"])
def test_weights_errors(function, make_clip, key_image, tmp_path):
    clip, keys = make_clip(length=2), {0: key_image()}
    message = _error(function, clip, keys, weights=tmp_path / "missing.pt")
    assert message.startswith(f"dvcp.{function}: weights file") and "does not exist" in message
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage")
    message = _error(function, clip, keys, weights=corrupt)
    assert message.startswith(f"dvcp.{function}: cannot read weights file") and "corrupt" in message


def test_option_errors(make_clip, key_image, opts):
    clip, keys = make_clip(length=2), {0: key_image()}
    assert "matrix='2020' is not supported" in _error("colorize", clip, keys, matrix="2020", **opts)
    assert "cache_mb=0 must be positive" in _error("colorize", clip, keys, cache_mb=0, **opts)
    assert "unknown" in _error("colorize", clip, keys, local_stage="nope", **opts).lower()
    assert "keyframes must be a colour clip or a mapping" in _error("colorize", clip, [key_image()], **opts)
    for function in ("local_propagate", "global_match"):
        message = _error(function, clip, keys, colour="red", **opts)
        assert message.startswith(f"dvcp.{function}: ") and "'colour'" in message


def test_shot_without_keyframe_fails_the_frame_request_naming_the_frame(make_clip, key_image, opts):
    out = dvcp_plugin.colorize(make_clip(length=8, scene_changes=[5]), {0: key_image()}, **opts)
    out.get_frame(4)  # the first shot is fine
    with pytest.raises(vs.Error, match=r"dvcp\.colorize: frame 7: frame 5 starts a new shot .* give a keyframe at frame 5"):
        out.get_frame(7)


def test_refine_errors(make_clip, key_image, opts):
    clip = make_clip(length=4)
    local = dvcp_plugin.local_propagate(clip, {0: key_image()}, **opts)
    small = local.resize.Point(width=32, height=24)
    assert _error("refine", clip, small, local, **opts).startswith("dvcp.refine: local is 32x24 but the clip is 64x48")
    grey = vs.core.std.BlankClip(clip, format=vs.GRAY16)
    assert "global_ is Gray16; it must be a colour clip" in _error("refine", clip, local, grey, **opts)
    assert "global_ has 2 frames but the clip has 4" in _error("refine", clip, local, local[:2], **opts)
