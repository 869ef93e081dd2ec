"""The state cache: any order, any thread, same frames; checkpoints; bounded memory; shots.

The concurrency tests run real threads that start together (a barrier) against an engine whose
step takes a few milliseconds (sleeping, so other threads run meanwhile): without the cache's
lock, threads compute the same frames side by side, and these tests fail.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from dvcp_plugin.runtime.engine import Engine, EngineConfig
from dvcp_plugin.runtime.state_cache import ShotError, StateCache
from dvcp_plugin.stages.build import untrained_weights
from dvcp_plugin.stages.weights import save_weights

FRAMES, HEIGHT, WIDTH = 30, 24, 32


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Engine:
    path = save_weights(tmp_path_factory.mktemp("w") / "w.pt", untrained_weights(seed=0))
    return Engine(EngineConfig(weights=path))


@pytest.fixture(scope="module")
def footage():
    gen = torch.Generator().manual_seed(7)
    greys = [torch.rand(HEIGHT, WIDTH, generator=gen) for _ in range(FRAMES)]
    keys = {n: torch.rand(2, HEIGHT, WIDTH, generator=gen) - 0.5 for n in range(FRAMES)}
    return greys, keys


def _cache(engine, footage, keyframes=(0,), scene_changes=(), key_at=None, **options):
    greys, keys = footage
    return StateCache(
        engine,
        keyframes,
        lambda n: (greys[n], n in scene_changes),
        lambda n: keys[n],
        key_at=key_at,
        **options,
    )


class SlowSteps:
    """The engine, with each step taking 3 ms more and counted per (previous, current) grey frame pair."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.done = engine, Counter()
        self._lock = threading.Lock()

    def __getattr__(self, name: str):
        return getattr(self.engine, name)

    def step(self, key, grey_prev, grey_cur, chroma_prev):
        time.sleep(0.003)
        with self._lock:
            self.done[float(grey_cur.work.sum())] += 1
        return self.engine.step(key, grey_prev, grey_cur, chroma_prev)


def _together(threads: int, work) -> list:
    """Run ``work(i)`` in ``threads`` threads that start at the same moment; their results in order."""
    barrier = threading.Barrier(threads)

    def run(i):
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(run, range(threads)))


def _sequential(engine, footage, **kwargs):
    cache = _cache(engine, footage, **kwargs)
    return [cache.estimate(n).final.clone() for n in range(FRAMES)]


def test_random_order_from_threads_equals_sequential(engine, footage):
    expected = _sequential(engine, footage, keyframes=(0, 17))
    cache = _cache(engine, footage, keyframes=(0, 17), cache_mb=0.05, checkpoint_interval=4)
    order = list(range(FRAMES)) * 2
    random.Random(0).shuffle(order)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda n: (n, cache.estimate(n).final.clone()), order))
    for n, final in results:
        assert torch.equal(final, expected[n]), f"frame {n} differs"


def test_threads_started_together_compute_each_frame_once_and_agree(engine, footage):
    expected = _sequential(engine, footage, keyframes=(0, 17))
    slow = SlowSteps(engine)
    cache = _cache(slow, footage, keyframes=(0, 17), cache_mb=64)
    targets = [29, 16, 25, 12, 29, 20]  # overlapping runs of frames in both shots
    results = _together(len(targets), lambda i: cache.estimate(targets[i]).final.clone())
    for n, final in zip(targets, results, strict=True):
        assert torch.equal(final, expected[n]), f"frame {n} differs"
    for n in range(FRAMES):
        assert torch.equal(cache.estimate(n).final, expected[n]), f"frame {n} differs"
    assert sum(slow.done.values()) == FRAMES - 2  # every frame but the two keyframes, each once
    assert max(slow.done.values()) == 1


def test_scene_changes_found_by_threads_at_once_start_one_shot_each(engine, footage):
    greys, keys = footage
    cuts = (7, 15, 22)
    expected = {}
    for first, last in zip((0, *cuts), (*cuts, FRAMES), strict=True):
        for offset, out in enumerate(engine.run_shot(greys[first:last], keys[first])):
            expected[first + offset] = out.final
    slow = SlowSteps(engine)
    cache = _cache(slow, footage, scene_changes=set(cuts), key_at=lambda n: True, cache_mb=64)
    targets = [29, 21, 14, 29, 25, 10, 18, 6]
    results = _together(len(targets), lambda i: cache.estimate(targets[i]).final.clone())
    for n, final in zip(targets, results, strict=True):
        assert torch.equal(final, expected[n]), f"frame {n} differs"
    assert cache.keyframes == [0, *cuts]  # each cut became a keyframe once
    for n in range(FRAMES):
        assert torch.equal(cache.estimate(n).final, expected[n]), f"frame {n} differs"
    assert max(slow.done.values()) == 1 and sum(slow.done.values()) == FRAMES - 1 - len(cuts)


def test_backward_seek_resumes_from_a_checkpoint(engine, footage):
    # a cache too small for results keeps checkpoints of every 5th frame
    cache = _cache(engine, footage, cache_mb=0.02, checkpoint_interval=5)
    cache.estimate(28)
    before = engine.stats["steps"]
    cache.estimate(22)
    # resumes at the checkpoint of frame 20, not at the keyframe 0
    assert engine.stats["steps"] - before == 2


def test_memory_stays_within_the_budget(engine, footage):
    cache = _cache(engine, footage, cache_mb=0.05, checkpoint_interval=2)
    for n in range(FRAMES):
        cache.estimate(n)
        assert cache.memory_bytes() <= 0.05 * 2**20 + cache.largest_entry_bytes()


def test_keyframes_start_new_shots(engine, footage):
    greys, keys = footage
    finals = _sequential(engine, footage, keyframes=(0, 10))
    # frame 10 is its keyframe's chroma at the working resolution, frame 11 follows from it
    assert torch.equal(finals[10], engine.to_working(keys[10]))
    single = list(engine.run_shot(greys[10:13], keys[10]))
    assert torch.equal(finals[12], single[2].final)


def test_frame_before_the_first_keyframe_is_an_error(engine, footage):
    cache = _cache(engine, footage, keyframes=(5,))
    with pytest.raises(ShotError, match="frame 3 comes before the first keyframe"):
        cache.estimate(3)


def test_scene_change_without_keyframe_names_the_frame(engine, footage):
    cache = _cache(engine, footage, scene_changes={12})
    cache.estimate(11)
    with pytest.raises(ShotError, match="frame 12 starts a new shot"):
        cache.estimate(15)


def test_scene_change_takes_its_keyframe_when_one_can_be_read(engine, footage):
    greys, keys = footage
    cache = _cache(engine, footage, scene_changes={12}, key_at=lambda n: True)
    got = cache.estimate(14).final
    single = list(engine.run_shot(greys[12:15], keys[12]))
    assert torch.equal(got, single[2].final)
    assert 12 in cache.keyframes
