"""Shared pipelines: the three stage filters compose into colorize without computing anything
twice, refine recognises its pipeline's nodes, and the frames equal a sequential pass of the engine."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import torch
import vapoursynth as vs

import dvcp_plugin
from dvcp_plugin.evaluation.metrics import psnr
from dvcp_plugin.filters.convert import array_chroma
from dvcp_plugin.options import EngineOptions
from dvcp_plugin.runtime import engine as engine_module
from dvcp_plugin.runtime import pipeline
from dvcp_plugin.runtime.engine import Engine
from dvcp_plugin.runtime.sequential import propagate_shot

LENGTH = 8


def _pipeline_of(node) -> pipeline.Pipeline:
    return next(p for p in list(pipeline._pipelines.values()) if p.field_of(node) is not None)


def _all(node, planes):
    return [planes(node.get_frame(n)) for n in range(node.num_frames)]


def _assert_same(a, b):
    for frame_a, frame_b in zip(a, b, strict=True):
        for plane_a, plane_b in zip(frame_a, frame_b, strict=True):
            np.testing.assert_array_equal(plane_a, plane_b)


def test_composed_stages_compute_each_frame_once_and_equal_colorize(make_clip, key_image, opts, planes):
    clip, keys = make_clip(length=LENGTH), {0: key_image()}
    local = dvcp_plugin.local_propagate(clip, keys, **opts)
    glob = dvcp_plugin.global_match(clip, dict(keys), **opts)  # equal keyframes, another dict
    final = dvcp_plugin.refine(clip, local, glob)
    shared = _pipeline_of(local)
    assert _pipeline_of(glob) is shared and shared.field_of(final) == "final"
    stats = shared.engine.stats
    steps, features = stats["steps"], stats["key_features"]
    local_frames, _, final_frames = _all(local, planes), _all(glob, planes), _all(final, planes)
    assert stats["steps"] - steps == LENGTH - 1
    assert stats["key_features"] - features == 1
    colorized = dvcp_plugin.colorize(clip, keys, **opts)
    assert _pipeline_of(colorized) is shared
    _assert_same(_all(colorized, planes), final_frames)
    assert stats["steps"] - steps == LENGTH - 1
    assert any(
        not np.array_equal(final[1], local[1]) for final, local in zip(final_frames, local_frames, strict=True)
    )


def test_refine_of_other_nodes_runs_the_refine_stage_on_their_frames(make_clip, key_image, paper_weights, planes):
    # the paper's refine stage: it needs no reliability, which refine() of other nodes cannot know
    opts = {"weights": str(paper_weights), "threads": 1}
    clip, keys = make_clip(length=LENGTH), {0: key_image()}
    local = dvcp_plugin.local_propagate(clip, keys, format=vs.YUV444PS, **opts)
    glob = dvcp_plugin.global_match(clip, keys, format=vs.YUV444PS, **opts)
    final = dvcp_plugin.refine(clip, local, glob)
    changed = local.std.SetFrameProps(Edited=1)  # a node of ours, changed: no longer the pipeline's
    assert pipeline.pipeline_of(clip, changed, glob) is None
    alone = dvcp_plugin.refine(clip, changed, glob, **opts)
    assert pipeline.pipeline_of(clip, local, glob) is not None and alone.format.id == vs.YUV444P16
    alone_float = dvcp_plugin.refine(clip, changed, glob, format=vs.YUV444PS, **opts)
    for n in range(1, LENGTH):
        want = np.stack(planes(final.get_frame(n))[1:])
        got = np.stack(planes(alone_float.get_frame(n))[1:])
        before = np.stack(planes(local.get_frame(n))[1:])
        # the estimates went through full resolution and back, so not equal to the pipeline's
        # final frame; but the refinement it applies is there (most of final - local)
        assert 0 < np.abs(got - want).mean() < 0.25 * np.abs(want - before).mean()
        assert "Edited" not in alone.get_frame(n).props  # properties come from the clip


def test_pipelines_live_as_long_as_their_nodes(make_clip, key_image, opts):
    clip = make_clip(length=4)
    out = dvcp_plugin.colorize(clip, {0: key_image()}, **opts)
    out.get_frame(3)
    ref = weakref.ref(_pipeline_of(out))
    del out
    gc.collect()
    assert ref() is None


def test_filter_frames_equal_a_sequential_pass_of_the_engine(make_clip, key_image, opts, planes, weights):
    """Each node's frames are the one-pass colouring of the shot (runtime/sequential.py) by an engine of
    the same options, its chroma written as filters/convert.py documents: limited range, 16 bits,
    rounded half to even as the exact value would be."""
    clip, key = make_clip(length=LENGTH), key_image()
    nodes = {
        field: getattr(dvcp_plugin, function)(clip, {0: key}, **opts)
        for field, function in (("local", "local_propagate"), ("global_", "global_match"), ("final", "colorize"))
    }
    # the input's luma, normalised as documented: one float32 division of (Y - 16) by 219, clamped
    greys = [
        ((torch.from_numpy(np.array(clip.get_frame(n)[0], np.float32)) - 16) / 219).clamp(0, 1) for n in range(LENGTH)
    ]
    engine = Engine(EngineOptions(weights=weights, threads=opts["threads"]))
    runs = list(propagate_shot(engine, greys, {0: array_chroma(key, "601", "key")}))
    for field, node in nodes.items():
        for n in range(1, LENGTH):
            chroma = engine.to_full(getattr(runs[n], field), (clip.height, clip.width)).double().numpy()
            expected = np.clip(np.rint(chroma * (224 * 256) + 128 * 256), 0, 65535)  # the exact value, rounded
            got = np.stack(planes(node.get_frame(n))[1:])
            np.testing.assert_array_equal(got, expected, err_msg=f"{field}, frame {n}")


def test_a_sequential_pass_converts_each_input_frame_once(make_clip, key_image, opts):
    """Frame n's request brings frame n with it, and frame n-1 was converted for the request before."""
    out = dvcp_plugin.colorize(make_clip(length=LENGTH), {0: key_image()}, **opts)
    shared = _pipeline_of(out)
    converted, luma = [], shared.luma
    shared.luma = lambda frame: converted.append(frame) or luma(frame)
    for n in range(LENGTH):
        out.get_frame(n)
    assert len(converted) == LENGTH


def test_half_precision_through_the_filter_is_within_45_db_of_float32(monkeypatch, make_clip, key_image, opts):
    """colorize(half=True) runs the engine in float16 (here on the CPU: only the device check is set
    aside) and writes frames within 45 dB (8-bit RGB) of float32's."""
    monkeypatch.setattr(engine_module, "resolve_device", lambda device, half: torch.device(device))
    clip, key = make_clip(length=LENGTH), key_image()
    full, half = (
        dvcp_plugin.colorize(clip, {0: key}, format=vs.RGB24, half=precision, **opts) for precision in (False, True)
    )
    for n in range(LENGTH):
        a, b = (np.dstack([np.asarray(node.get_frame(n)[i]) for i in range(3)]) for node in (full, half))
        assert psnr(a, b) >= 45, n
