"""The non-recursive part of each step leaves the chain's lock: prepared ahead, on a worker thread,
bit-identical to preparing it in line, nothing prepared twice or in vain in a sequential pass."""

from __future__ import annotations

import threading

import pytest
import torch

from dvcp_plugin.options import EngineOptions
from dvcp_plugin.runtime.engine import Engine
from dvcp_plugin.runtime.prepare_ahead import Preparer, worker_count
from dvcp_plugin.runtime.shot_map import Chain
from dvcp_plugin.runtime.state_cache import StateCache

FRAMES = 16


@pytest.fixture(scope="module")
def engine(weights) -> Engine:
    return Engine(EngineOptions(weights=weights, threads=2))


@pytest.fixture(scope="module")
def footage():
    gen = torch.Generator().manual_seed(3)
    greys = [torch.rand(96, 128, generator=gen) for _ in range(FRAMES)]
    keys = {n: torch.rand(2, 96, 128, generator=gen) - 0.5 for n in range(FRAMES)}
    return greys, keys


def test_a_step_prepared_on_the_worker_equals_one_prepared_in_line(engine, footage):
    greys, keys = footage
    state = engine.prepare_key(greys[0], keys[0])
    preparer = Preparer(engine, workers=1)
    for n in range(1, 4):
        preparer.submit(n, state, (n - 1, greys[n - 1]), (n, greys[n]))
    for n in range(1, 4):
        prepared = preparer.take(n)
        assert prepared is not None
        inputs, cur = prepared
        want = engine.prepare(state, engine.to_grey(greys[n - 1]), engine.to_grey(greys[n]))
        assert all(torch.equal(a, b) for a, b in zip(inputs.plan, want.plan, strict=True) if a is not None)
        assert torch.equal(inputs.global_, want.global_) and torch.equal(inputs.confidence, want.confidence)
        assert torch.equal(cur.work, engine.to_grey(greys[n]).work)
    assert preparer.take(1) is None  # taken once


class Spy:
    """The engine, recording which thread prepares and whether a chain's lock is held meanwhile."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.cache = engine, None
        self.calls: list[tuple[str, str, bool]] = []

    def __getattr__(self, name: str):
        return getattr(self.engine, name)

    def _record(self, what: str) -> None:
        held = any(lock.locked() for lock in self.cache._locks.values())
        self.calls.append((what, threading.current_thread().name, held))

    def to_grey(self, grey):
        self._record("to_grey")
        return self.engine.to_grey(grey)

    def prepare(self, *args):
        self._record("prepare")
        return self.engine.prepare(*args)


def _spied_cache(engine, footage, keyframes, workers):
    greys, keys = footage
    spy = Spy(engine)
    spy.cache = StateCache(spy, keyframes, lambda n: (greys[n], False), keys.__getitem__, FRAMES, workers=workers)
    return spy


def test_in_line_preparing_happens_before_the_chains_lock_is_taken(engine, footage):
    spy = _spied_cache(engine, footage, (0, FRAMES - 1), workers=0)
    for n in range(FRAMES):
        spy.cache.estimate(n)
    assert spy.calls and not any(held for _, _, held in spy.calls)


def test_the_worker_prepares_every_step_and_the_next_frame_ahead(engine, footage):
    spy = _spied_cache(engine, footage, (0, FRAMES - 1), workers=1)
    before = dict(engine.stats)
    for n in range(FRAMES - 1):
        spy.cache.estimate(n)
        if 0 < n < FRAMES - 2:  # the forward chain's next frame is on its way while this one is returned
            assert spy.cache.preparer.has((Chain(0, 1), n + 1))
    assert {thread.split("_")[0] for what, thread, _ in spy.calls} == {"dvcp-prepare"}
    # each frame between the keyframes is a step of two chains; none is prepared twice or in vain
    steps, prepared = (engine.stats[key] - before.get(key, 0) for key in ("steps", "prepared"))
    assert steps == prepared == 2 * (FRAMES - 2)


def test_a_worker_is_taken_where_it_can_prepare_beside_the_chain(engine, monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(4)), raising=False)
    assert worker_count(engine) == 1  # two torch threads for the chain, two for the worker
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert worker_count(engine) == 0  # they would only share two cores
