"""The state cache: any order, any thread, same frames as one sequential pass; keyframes anywhere in
a shot (forward and backward chains, blended); seeks bounded by checkpoints that are never lost;
bounded memory; shots without keyframes.

The reference for every order is :func:`propagate_shot`, a separate, plain pass over each shot.
The concurrency tests run real threads that start together (a barrier) against an engine whose
chain step takes a few milliseconds (sleeping, so other threads run meanwhile): without the
chains' locks, threads compute the same steps side by side, and these tests fail.
"""

from __future__ import annotations

import gc
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from dvcp_plugin.models.bidirectional import blend_chains
from dvcp_plugin.options import EngineOptions
from dvcp_plugin.runtime.engine import Engine
from dvcp_plugin.runtime.sequential import propagate_shot
from dvcp_plugin.runtime.state_cache import ShotError, StateCache

FRAMES, HEIGHT, WIDTH = 30, 24, 32


@pytest.fixture(scope="module")
def engine(weights) -> Engine:
    return Engine(EngineOptions(weights=weights, threads=1))


@pytest.fixture(scope="module")
def footage():
    gen = torch.Generator().manual_seed(7)
    greys = [torch.rand(HEIGHT, WIDTH, generator=gen) for _ in range(FRAMES)]
    keys = {n: torch.rand(2, HEIGHT, WIDTH, generator=gen) - 0.5 for n in range(FRAMES)}
    return greys, keys


def _cache(engine, footage, keyframes=(0,), scene_changes=(), key_at=None, **options):
    greys, keys = footage
    return StateCache(
        engine, keyframes, lambda n: (greys[n], n in scene_changes), lambda n: keys[n], FRAMES, key_at=key_at, **options
    )


def _reference(engine, footage, shots: dict[int, tuple[int, ...]]) -> list[torch.Tensor]:
    """Final chroma of every frame from :func:`propagate_shot`, shot by shot ({first frame: keyframes})."""
    greys, keys = footage
    firsts = sorted(shots)
    finals = []
    for first, end in zip(firsts, [*firsts[1:], FRAMES], strict=True):
        shot_keys = {k - first: keys[k] for k in shots[first]}
        finals += [out.final for out in propagate_shot(engine, greys[first:end], shot_keys)]
    return finals


def _shuffled_from_threads(cache, threads=4, seed=0):
    order = list(range(FRAMES)) * 2
    random.Random(seed).shuffle(order)
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda n: (n, cache.estimate(n).final.clone()), order))


@pytest.mark.parametrize("keyframes", [(0,), (FRAMES - 1,), (5, 20), (0, 11, FRAMES - 1)])
@pytest.mark.parametrize("workers", [0, 1])
def test_random_order_from_threads_equals_one_sequential_pass(engine, footage, keyframes, workers):
    expected = _reference(engine, footage, {0: keyframes})
    cache = _cache(engine, footage, keyframes, cache_mb=0.05, checkpoint_interval=4, workers=workers)
    for n, final in _shuffled_from_threads(cache):
        assert torch.equal(final, expected[n]), f"frame {n} differs"


def test_a_frame_between_two_keyframes_blends_the_forward_and_the_backward_chain(engine, footage):
    both = _cache(engine, footage, (3, 20))
    from_3, from_20 = _cache(engine, footage, (3,)), _cache(engine, footage, (20,))  # one chain each way
    for n in (4, 11, 19):
        want = blend_chains(from_3.estimate(n), from_20.estimate(n), n - 3, 20 - n)
        assert all(torch.equal(got, w) for got, w in zip(both.estimate(n), want, strict=True)), f"frame {n}"
    for n in (0, 2):  # before the first keyframe: its backward chain alone
        assert torch.equal(both.estimate(n).final, from_3.estimate(n).final)
    for n in (21, 29):  # after the last: its forward chain alone
        assert torch.equal(both.estimate(n).final, from_20.estimate(n).final)
    # the two chains differ, so the blend is neither
    assert not torch.equal(both.estimate(11).final, from_3.estimate(11).final)
    assert not torch.equal(both.estimate(11).final, from_20.estimate(11).final)


def test_a_keyframe_is_its_own_chroma(engine, footage):
    cache = _cache(engine, footage, (0, 10))
    assert torch.equal(cache.estimate(10).final, engine.to_working(footage[1][10]))


class SlowChain:
    """The engine, each chain step taking 3 ms more and counted per (current grey, previous chroma)."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.done = engine, Counter()
        self._lock = threading.Lock()

    def __getattr__(self, name: str):
        return getattr(self.engine, name)

    def chain(self, inputs, cur, chroma_prev):
        time.sleep(0.003)
        with self._lock:
            self.done[float(cur.work.sum()), float(chroma_prev.sum())] += 1
        return self.engine.chain(inputs, cur, chroma_prev)


def _together(threads: int, work) -> list:
    """Run ``work(i)`` in ``threads`` threads that start at the same moment; their results in order."""
    barrier = threading.Barrier(threads)

    def run(i):
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(run, range(threads)))


@pytest.mark.parametrize("workers", [0, 1])
def test_threads_started_together_compute_each_step_once_and_agree(engine, footage, workers):
    keyframes = (0, 17, FRAMES - 1)
    expected = _reference(engine, footage, {0: keyframes})
    slow = SlowChain(engine)
    cache = _cache(slow, footage, keyframes, cache_mb=64, workers=workers)
    targets = [28, 16, 25, 12, 28, 20, 2, 16]  # overlapping runs of both chains between each pair of keyframes
    results = _together(len(targets), lambda i: cache.estimate(targets[i]).final.clone())
    for n, final in zip(targets, results, strict=True):
        assert torch.equal(final, expected[n]), f"frame {n} differs"
    for n in range(FRAMES):
        assert torch.equal(cache.estimate(n).final, expected[n]), f"frame {n} differs"
    # every frame between two keyframes is a step of two chains, each computed once
    assert sum(slow.done.values()) == 2 * (FRAMES - 3) and max(slow.done.values()) == 1


def test_scene_changes_found_by_threads_at_once_start_one_shot_each(engine, footage):
    cuts = (7, 15, 22)
    expected = _reference(engine, footage, {0: (0,), **{cut: (cut,) for cut in cuts}})
    slow = SlowChain(engine)
    cache = _cache(slow, footage, scene_changes=set(cuts), key_at=lambda n: True, cache_mb=64)
    targets = [29, 21, 14, 29, 25, 10, 18, 6]
    results = _together(len(targets), lambda i: cache.estimate(targets[i]).final.clone())
    for n, final in zip(targets, results, strict=True):
        assert torch.equal(final, expected[n]), f"frame {n} differs"
    assert cache.keyframes == [0, *cuts]  # each cut became a keyframe once
    for n in range(FRAMES):
        assert torch.equal(cache.estimate(n).final, expected[n]), f"frame {n} differs"
    # no backward chain crosses a cut: each frame is one forward step
    assert max(slow.done.values()) == 1 and sum(slow.done.values()) == FRAMES - 1 - len(cuts)


@pytest.mark.parametrize("keyframes", [(0,), (FRAMES - 1,), (0, FRAMES - 1)])
def test_a_seek_recomputes_at_most_checkpoint_interval_steps_of_each_chain(engine, footage, keyframes):
    interval = 5
    expected = _reference(engine, footage, {0: keyframes})
    # results for one frame and checkpoints for two: the rest of the checkpoints go to disk
    cache = _cache(engine, footage, keyframes, cache_mb=16 * 24 * 4 * 2 / 2**20, checkpoint_interval=interval)
    for n in range(FRAMES):
        cache.estimate(n)
    assert cache.store.checkpoints.spilled > 0
    chains = len(keyframes) if len(keyframes) == 2 else 1
    for n in random.Random(1).sample(range(FRAMES), FRAMES):
        before = engine.stats["steps"]
        assert torch.equal(cache.estimate(n).final, expected[n]), f"frame {n} differs"
        assert engine.stats["steps"] - before <= chains * interval, f"frame {n}"


def test_a_request_returns_what_it_computed_even_when_no_result_is_kept(engine, footage, monkeypatch):
    expected = _reference(engine, footage, {0: (0, FRAMES - 1)})
    cache = _cache(engine, footage, (0, FRAMES - 1), checkpoint_interval=8)
    monkeypatch.setattr(cache.store.results, "put", lambda key, value: None)  # others evict every result at once
    before = engine.stats["steps"]
    assert torch.equal(cache.estimate(10).final, expected[10])
    assert engine.stats["steps"] - before == 10 + (FRAMES - 1 - 10)  # each step of both chains once
    before = engine.stats["steps"]
    assert torch.equal(cache.estimate(10).final, expected[10])
    assert engine.stats["steps"] - before == 2 + 3  # from the checkpoints at 8 and 13


def test_spilled_checkpoints_are_exact_and_their_folder_goes_with_the_cache(engine, footage):
    expected = _reference(engine, footage, {0: (0,)})
    cache = _cache(engine, footage, cache_mb=0.004, checkpoint_interval=2)
    for n in range(FRAMES):
        cache.estimate(n)
    checkpoints = cache.store.checkpoints
    assert checkpoints.spilled >= 10 and len(checkpoints) == FRAMES // 2 + 1  # none lost
    folder = next(iter(checkpoints._files.values()))[0].parent
    assert folder.is_dir()
    for n in range(FRAMES - 1, 0, -1):  # every frame resumes from a checkpoint read back from disk
        assert torch.equal(cache.estimate(n).final, expected[n]), f"frame {n} differs"
    del cache, checkpoints
    gc.collect()
    assert not folder.exists()


def test_memory_stays_within_the_budget(engine, footage):
    cache = _cache(engine, footage, (3, 20), cache_mb=0.05, checkpoint_interval=2)
    for n in [*range(FRAMES), *range(FRAMES - 1, -1, -3)]:
        cache.estimate(n)
        assert cache.memory_bytes() <= 0.05 * 2**20 + cache.largest_entry_bytes()


def test_a_keyframe_anywhere_in_a_shot_colours_the_frames_before_it(engine, footage):
    expected = _reference(engine, footage, {0: (12,)})
    cache = _cache(engine, footage, (12,), scene_changes={20})
    assert torch.equal(cache.estimate(3).final, expected[3])
    with pytest.raises(ShotError, match="frame 20 starts a new shot .* but that shot has no keyframe"):
        cache.estimate(25)


def test_a_shot_without_keyframe_names_its_first_frame(engine, footage):
    cache = _cache(engine, footage, (15,), scene_changes={6, 12})
    cache.estimate(13)
    with pytest.raises(ShotError, match="frame 6 starts a new shot"):
        cache.estimate(9)
    with pytest.raises(ShotError, match="the clip's first shot .* has no keyframe"):
        cache.estimate(2)


def test_unkeyed_cuts_continue_crosses_every_cut_but_the_last_between_two_keyframes(engine, footage):
    cache = _cache(engine, footage, (0, 20), scene_changes={5, 12, 25}, unkeyed_cuts="continue")
    # 12 bounds the shots: keyframes lie before it and in the shot it starts; 5 and 25 are crossed
    expected = _reference(engine, footage, {0: (0,), 12: (20,)})
    for n in range(FRAMES):
        assert torch.equal(cache.estimate(n).final, expected[n]), f"frame {n} differs"


def test_scene_change_takes_its_keyframe_when_one_can_be_read(engine, footage):
    cache = _cache(engine, footage, (0, 16), scene_changes={12}, key_at=lambda n: True)
    expected = _reference(engine, footage, {0: (0,), 12: (12, 16)})
    for n in (14, 3, 11):
        assert torch.equal(cache.estimate(n).final, expected[n]), f"frame {n} differs"
    assert 12 in cache.keyframes


@pytest.mark.parametrize(("error", "swallowed"), [(ShotError("unreadable"), True), (TypeError("a bug"), False)])
def test_a_frame_read_ahead_that_cannot_be_read_is_left_to_its_request_but_a_bug_goes_up(
    engine, footage, error, swallowed
):
    greys, keys = footage

    def read_frame(n):
        if n == 3:
            raise error
        return greys[n], False

    cache = StateCache(engine, (0,), read_frame, lambda n: keys[n], FRAMES, workers=1, ahead=1)
    cache.estimate(1)
    if swallowed:
        cache.estimate(2)  # reads frame 3 ahead, which fails: frame 2 is still made
        with pytest.raises(ShotError, match="unreadable"):
            cache.estimate(3)
    else:
        with pytest.raises(TypeError, match="a bug"):
            cache.estimate(2)
