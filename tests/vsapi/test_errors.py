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
        "no keyframe": (clip, {}, {}, r"no keyframes were given; give at least one"),
        "keyframe out of range": (
            clip, {0: key, 9: key}, {}, r"keyframe at frame 9 is out of range: the clip has 6 frames"
        ),
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
    assert "cache_mb=0 must be a positive finite number" in _error("colorize", clip, keys, cache_mb=0, **opts)
    assert "unknown" in _error("colorize", clip, keys, local_stage="nope", **opts).lower()
    assert "keyframes must be a colour clip or a mapping" in _error("colorize", clip, [key_image()], **opts)
    for function in ("local_propagate", "global_match"):
        message = _error(function, clip, keys, colour="red", **opts)
        assert message.startswith(f"dvcp.{function}: ") and "'colour'" in message


def test_shot_without_keyframe_fails_the_frame_request_naming_its_first_frame(make_clip, key_image, opts):
    out = dvcp_plugin.colorize(make_clip(length=12, scene_changes=[5, 9]), {2: key_image(), 10: key_image(1)}, **opts)
    out.get_frame(0)  # the first shot is coloured backward from its keyframe at 2
    out.get_frame(11)
    for n in (5, 7):  # the message names the shot's first frame once, whichever frame was asked for
        with pytest.raises(vs.Error, match=r"dvcp\.colorize: frame 5 starts a new shot .* has no keyframe") as info:
            out.get_frame(n)
        assert "frame 5: " not in str(info.value) and "frame 7" not in str(info.value)
        assert "unkeyed_cuts='continue'" in str(info.value) and "--unkeyed-cuts" not in str(info.value)


def test_advice_on_options_is_in_the_functions_words(make_clip, key_image, opts):
    clip, keys = make_clip(length=2), {0: key_image()}
    message = _error("colorize", clip, keys, half=True, **opts)
    assert message.endswith("needs a CUDA device, and 'cpu' is not one: use a CUDA device, or half=False")
    message = _error("colorize", clip, keys, chroma_scale=0.1, **opts)
    assert "or a larger chroma_scale (at most chroma_scale=1)" in message and "--" not in message


def test_refine_errors(make_clip, key_image, opts):
    clip = make_clip(length=4)
    local = dvcp_plugin.local_propagate(clip, {0: key_image()}, **opts)
    small = local.resize.Point(width=32, height=24)
    assert _error("refine", clip, small, local, **opts).startswith("dvcp.refine: local is 32x24 but the clip is 64x48")
    grey = vs.core.std.BlankClip(clip, format=vs.GRAY16)
    assert "global_ is Gray16; it must be a colour clip" in _error("refine", clip, local, grey, **opts)
    assert "global_ has 2 frames but the clip has 4" in _error("refine", clip, local, local[:2], **opts)


def _weights_with_local_options(tmp_path, options):
    from dvcp_plugin.stages.build import untrained_weights
    from dvcp_plugin.stages.weights import save_weights

    data = untrained_weights(seed=0)
    data["stages"]["local"]["options"] = options
    return save_weights(tmp_path / "odd-options.pt", data)


BAD_OPTIONS = [
    ({"global_stage": "resnet18"},
     r"cannot build the global stage 'resnet18': ImageNet weights for ResNet-18 not found"),
    ({"weights": "odd-options.pt"},
     r"the local stage 'mcsepconv' does not take the option 'colour' \(weights file .*odd-options\.pt\); "
     r"it takes check_options, consistency, .*motion_options, .*widths"),
    ({"stage_options": {"refine": {"colour": 1}}},
     r"the refine stage 'fusion' does not take the option 'colour' \(stage_options\); it takes .*keep_saturation"),
    ({"stage_options": {"colour": {}}}, r"stage_options has unknown stage kind\(s\) colour"),
    ({"chroma_scale": "abc"}, r"chroma_scale='abc' must be a positive finite number"),
    ({"chroma_scale": 0}, r"chroma_scale=0 must be a positive finite number"),
    ({"chroma_scale": 1.5}, r"chroma_scale=1.5 must be in \(0, 1\]"),
    ({"cache_mb": float("inf")}, r"cache_mb=inf must be a positive finite number"),
    ({"cache_mb": "lots"}, r"cache_mb='lots' must be a positive finite number"),
    ({"unkeyed_cuts": "ignore"}, r"unkeyed_cuts='ignore' must be 'error' or 'continue'"),
    ({"matrix": vs.MATRIX_BT2020_NCL}, r"matrix=.* is not supported"),
    ({"keyframe_frames": 0}, r"keyframe_frames=0 must be a list of frame numbers, e.g. \[0\]"),
]


@pytest.mark.parametrize(
    ("extra", "pattern"), BAD_OPTIONS, ids=[next(iter(e)) + str(i) for i, (e, _) in enumerate(BAD_OPTIONS)]
)
def test_every_bad_option_is_a_vs_error_naming_the_function(
    extra, pattern, make_clip, key_image, weights, tmp_path, monkeypatch
):
    monkeypatch.setattr("torch.hub.get_dir", lambda: str(tmp_path / "hub"))  # no ImageNet weights here
    clip = make_clip(length=2)
    keys = {0: key_image()}
    if "keyframe_frames" in extra:
        keys = vs.core.std.BlankClip(format=vs.RGB24, width=64, height=48, length=2, color=[200, 30, 30])
    opts = {"weights": str(weights), "threads": 1}
    if extra.get("weights") == "odd-options.pt":
        extra = {"weights": str(_weights_with_local_options(tmp_path, {"colour": 3}))}
    for function in ("colorize", "local_propagate", "global_match"):
        message = _error(function, clip, keys, **{**opts, **extra})
        assert message.startswith(f"dvcp.{function}: "), message
        assert re.search(pattern, message), message
