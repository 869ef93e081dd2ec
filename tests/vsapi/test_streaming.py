"""Streaming: any request order from several threads gives the same frames; seeks resume from
checkpoints; memory stays within cache_mb; nothing is written to stdout.

VapourSynth serialises the callbacks of one node, so one node alone makes no concurrency; the
concurrency tests request three nodes of one pipeline at once, with each engine step slowed by a
few milliseconds, and fail when the state cache lets two of them compute the same frame.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

import dvcp_plugin
from dvcp_plugin.runtime import engine as engine_module
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


KEYS = (2, 9, 15)  # shot 0-8 coloured backward (0, 1) and forward (3-8) from 2; shot 9-15 both ways


@pytest.mark.parametrize("preset", ["fast", "balanced", "best"])
def test_random_order_with_requests_in_flight_equals_a_sequential_pass(
    preset, four_threads, make_clip, key_image, opts, planes
):
    keys = {n: key_image(n) for n in KEYS}
    clip = make_clip(length=LENGTH, scene_changes=[9])
    opts = {**opts, "preset": preset}
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


@pytest.fixture
def slow_steps(monkeypatch):
    """Each engine step takes 3 ms more (sleeping, so that other threads run meanwhile)."""
    step = engine_module.chain_step

    def slow(*args):
        time.sleep(0.003)
        return step(*args)

    monkeypatch.setattr(engine_module, "chain_step", slow)


def test_three_nodes_requested_at_once_compute_each_frame_once_and_agree(
    four_threads, slow_steps, make_clip, key_image, opts, planes
):
    keys = {n: key_image(n) for n in KEYS}
    clip = make_clip(length=LENGTH, scene_changes=[9])
    functions = (dvcp_plugin.colorize, dvcp_plugin.local_propagate, dvcp_plugin.global_match)
    reference = [f(clip, keys, cache_mb=64, **opts) for f in functions]
    expected = [[planes(node.get_frame(n)) for n in range(LENGTH)] for node in reference]

    nodes = [f(clip, keys, cache_mb=32, **opts) for f in functions]  # a fresh pipeline shared by the three
    shared = _pipeline_of(nodes[0])
    assert shared is _pipeline_of(nodes[1]) is _pipeline_of(nodes[2]) and shared is not _pipeline_of(reference[0])
    before = shared.engine.stats["steps"]
    requests = [(i, n) for n in range(LENGTH) for i in range(3)]
    random.Random(5).shuffle(requests)
    futures = [(i, n, nodes[i].get_frame_async(n)) for i, n in requests]  # all in flight at once
    for i, n, future in futures:
        for got, want in zip(planes(future.result()), expected[i][n], strict=True):
            np.testing.assert_array_equal(got, want, err_msg=f"{functions[i].__name__} frame {n}")
    # each step of each chain once: 2 backward and 6 forward from 2, 5 each way between 9 and 15
    assert shared.engine.stats["steps"] - before == 2 + 6 + 5 + 5


def _windowed(nodes, length: int, depth: int = 16) -> None:
    """Every frame of every node, each node with ``depth`` requests in flight (a sliding window, as vspipe keeps)."""
    in_flight = [deque() for _ in nodes]
    for n in range(length):
        for node, queue in zip(nodes, in_flight, strict=True):
            queue.append(node.get_frame_async(n))
            if len(queue) > depth:
                queue.popleft().result()
    for queue in in_flight:
        while queue:
            queue.popleft().result()


@pytest.mark.parametrize(("keyframes", "cache_mb", "steps"), [
    ((0, 47), 16, 2 * 46),  # both chains between the keyframes, each step once
    ((0,), 0.2, 47),  # results for about 5 frames, far fewer than the 48 requests in flight
])
def test_stacked_views_with_16_requests_in_flight_compute_each_step_once(
    four_threads, make_clip, key_image, opts, keyframes, cache_mb, steps
):
    clip = make_clip(length=48)
    keys = {n: key_image(n) for n in keyframes}
    functions = (dvcp_plugin.colorize, dvcp_plugin.local_propagate, dvcp_plugin.global_match)
    nodes = [f(clip, keys, cache_mb=cache_mb, **opts) for f in functions]
    stats = _pipeline_of(nodes[0]).engine.stats
    before = stats["steps"]
    _windowed(nodes, 48)
    assert stats["steps"] - before == steps


@pytest.mark.parametrize(("key", "first", "seeks"), [(0, 119, (47, 118, 3)), (119, 0, (70, 1, 116))])
def test_a_seek_in_a_long_shot_recomputes_at_most_checkpoint_interval_steps(
    make_clip, key_image, opts, key, first, seeks
):
    # results for about one frame, checkpoints for a few: the others are spilled to disk, none lost
    out = dvcp_plugin.colorize(make_clip(length=120), {key: key_image()}, cache_mb=0.05, checkpoint_interval=4, **opts)
    pipeline_ = _pipeline_of(out)
    stats = pipeline_.engine.stats
    out.get_frame(first)
    assert pipeline_.cache.store.checkpoints.spilled > 0
    for n in seeks:
        before = stats["steps"]
        out.get_frame(n)
        assert 0 < stats["steps"] - before <= 4, n


def test_memory_stays_within_cache_mb(make_clip, key_image, opts):
    cache_mb = 0.2
    out = dvcp_plugin.colorize(make_clip(length=LENGTH), {0: key_image()}, cache_mb=cache_mb, **opts)
    cache = _pipeline_of(out).cache
    for n in [*range(LENGTH), 3, 12, 1, 15]:
        out.get_frame(n)
        assert cache.memory_bytes() <= cache_mb * 2**20
    assert cache.memory_bytes() > 0


RSS_SCRIPT = """
import gc, json, os, sys
sys.path.insert(0, sys.argv[1])
import vapoursynth as vs
from clip_fixtures import key_image, make_clip
import dvcp_plugin

width, height, frames, keyframes, cache_mb = 128, 96, 60, 20, float(sys.argv[3])
vs.core.max_cache_size = 16  # VapourSynth's own frame cache is not dvcp's to bound
options = dict(weights=sys.argv[2], threads=1, chroma_scale=1.0)

def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

images = {n: key_image(seed=n, height=height, width=width) for n in range(0, 2 * keyframes, 2)}
clip = make_clip(length=frames, width=width, height=height)
# the same shot once before, in a pipeline of its own (another checkpoint interval): what the
# process allocates once (thread pools, motion estimators, the allocator's pools) is not the shot's
warm = dvcp_plugin.colorize(clip, images, cache_mb=cache_mb, checkpoint_interval=7, **options)
for n in [*range(frames), 3, frames // 2]:
    warm.get_frame(n)
del warm
gc.collect()
before = peak = rss_mb()
out = dvcp_plugin.colorize(clip, images, cache_mb=cache_mb, **options)
for n in [*range(frames), 3, frames // 2]:
    out.get_frame(n)
    peak = max(peak, rss_mb())
print(json.dumps({"growth_mb": peak - before, "keyframes_mb": keyframes * height * width * 8 / 2**20}))
"""


def test_process_memory_stays_within_cache_mb_and_the_keyframes(weights):
    """Real memory (RSS) over a 60-frame shot stays within cache_mb plus the keyframes' chroma held
    outside the cache (8 bytes a pixel each, as documented) plus 8 MB; without the bound the shot
    keeps about 18 MB more."""
    cache_mb = 8
    # malloc with one arena and without its moving mmap threshold: freed memory goes back to the
    # system, so RSS between frames is what is kept, not what the allocator holds on to
    env = {**os.environ, "MALLOC_ARENA_MAX": "1", "MALLOC_MMAP_THRESHOLD_": "65536"}
    done = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT, str(Path(__file__).parents[1]), str(weights), str(cache_mb)],
        capture_output=True, text=True, env=env, check=True, timeout=300,
    )
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["growth_mb"] <= cache_mb + measured["keyframes_mb"] + 8, measured


def test_nothing_is_written_to_stdout(capfd, make_clip, key_image, opts, paper_weights, tmp_path):
    from dvcp_plugin.filters.images import write_image

    write_image(tmp_path / "key.png", key_image())
    clip = make_clip(length=6)
    local = dvcp_plugin.local_propagate(clip, {0: tmp_path / "key.png"}, **opts)
    glob = dvcp_plugin.global_match(clip, {0: tmp_path / "key.png"}, **opts)
    final = dvcp_plugin.refine(clip, local, glob)
    for node in (local, glob, final, dvcp_plugin.refine(clip, local, glob, weights=str(paper_weights), threads=1)):
        for n in range(6):
            node.get_frame(n)
    assert capfd.readouterr().out == ""
