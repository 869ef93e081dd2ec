"""Streaming: any request order from several threads gives the same frames; seeks resume from
checkpoints; memory stays within cache_mb; nothing is written to stdout."""

from __future__ import annotations

import random

import numpy as np
import pytest
import vapoursynth as vs

import dvcp_plugin
from dvcp_plugin.runtime import pipeline

LENGTH = 16


@pytest.fixture
def four_threads():
    core = vs.core
    before = core.num_threads
    core.num_threads = 4
    yield
    core.num_threads = before


def _pipeline_of(node) -> pipeline.Pipeline:
    return next(p for p in list(pipeline._pipelines.values()) if p.field_of(node) is not None)


def test_random_order_with_requests_in_flight_equals_a_sequential_pass(
    four_threads, make_clip, key_image, opts, planes
):
    keys = {0: key_image(1), 9: key_image(2)}
    clip = make_clip(length=LENGTH, scene_changes=[9])
    sequential = dvcp_plugin.colorize(clip, keys, cache_mb=64, **opts)
    expected = [planes(sequential.get_frame(n)) for n in range(LENGTH)]

    # equal options would share the pipeline: a different cache size gives a fresh one
    shuffled = dvcp_plugin.colorize(clip, keys, cache_mb=0.1, checkpoint_interval=3, **opts)
    assert _pipeline_of(shuffled) is not _pipeline_of(sequential)
    order = list(range(LENGTH)) * 2
    random.Random(3).shuffle(order)
    futures = [(n, shuffled.get_frame_async(n)) for n in order]  # all in flight at once
    for n, future in futures:
        for got, want in zip(planes(future.result()), expected[n], strict=True):
            np.testing.assert_array_equal(got, want, err_msg=f"frame {n}")


def test_backward_seek_resumes_from_a_checkpoint(make_clip, key_image, opts):
    out = dvcp_plugin.colorize(
        make_clip(length=LENGTH), {0: key_image()}, cache_mb=0.2, checkpoint_interval=4, **opts
    )
    stats = _pipeline_of(out).engine.stats
    before = stats["steps"]
    out.get_frame(15)
    assert stats["steps"] - before == 15
    before = stats["steps"]
    out.get_frame(7)  # evicted from the results: recomputed from the checkpoint at frame 4
    assert 0 < stats["steps"] - before < 7


def test_memory_stays_within_cache_mb(make_clip, key_image, opts):
    cache_mb = 0.2
    out = dvcp_plugin.colorize(make_clip(length=LENGTH), {0: key_image()}, cache_mb=cache_mb, **opts)
    cache = _pipeline_of(out).cache
    for n in [*range(LENGTH), 3, 12, 1, 15]:
        out.get_frame(n)
        assert 0 < cache.memory_bytes() <= cache_mb * 2**20


def test_nothing_is_written_to_stdout(capfd, make_clip, key_image, opts, tmp_path):
    from dvcp_plugin.filters.images import write_image

    write_image(tmp_path / "key.png", key_image())
    clip = make_clip(length=6)
    local = dvcp_plugin.local_propagate(clip, {0: tmp_path / "key.png"}, **opts)
    glob = dvcp_plugin.global_match(clip, {0: tmp_path / "key.png"}, **opts)
    final = dvcp_plugin.refine(clip, local, glob)
    for node in (local, glob, final, dvcp_plugin.refine(clip, local, glob, refine_stage="fcn", half=False)):
        for n in range(6):
            node.get_frame(n)
    assert capfd.readouterr().out == ""
