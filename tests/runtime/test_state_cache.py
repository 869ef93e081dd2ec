"""The state cache: any order, any thread, same frames; checkpoints; bounded memory; shots."""

from __future__ import annotations

import random
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
