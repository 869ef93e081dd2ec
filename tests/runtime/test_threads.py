"""Torch threads of engines: each engine's work runs with its own count, whoever asks and whenever,
and no thread of the process is left with another count than its own."""

from __future__ import annotations

import threading

import torch

from dvcp_plugin.options import EngineOptions
from dvcp_plugin.runtime import engine as engine_module
from dvcp_plugin.runtime.engine import Engine
from dvcp_plugin.runtime.sequential import propagate_shot

DEFAULT = 3  # the process's own count here: neither engine's


def _shot(frames: int = 4):
    gen = torch.Generator().manual_seed(2)
    return [torch.rand(24, 32, generator=gen) for _ in range(frames)], torch.rand(2, 24, 32, generator=gen) - 0.5


def test_two_engines_at_once_each_keep_their_count_and_leave_every_thread_its_own(weights, monkeypatch):
    engines = {count: Engine(EngineOptions(weights=weights, threads=count)) for count in (1, 2)}
    of_local = {id(engine.local): count for count, engine in engines.items()}
    seen: dict[int, set[int]] = {1: set(), 2: set()}
    one_inside, two_done = threading.Event(), threading.Event()
    chain_step = engine_module.chain_step

    def watched_step(local, *args):
        count = of_local[id(local)]
        seen[count].add(torch.get_num_threads())
        if count == 1 and not one_inside.is_set():  # engine 1 stays in the middle of its work ...
            one_inside.set()
            assert two_done.wait(60)  # ... while engine 2 does all of its work
        return chain_step(local, *args)

    monkeypatch.setattr(engine_module, "chain_step", watched_step)
    greys, chroma = _shot()
    after: dict[str, int] = {}

    def colour(count: int, name: str) -> None:
        if count == 2:
            assert one_inside.wait(60)  # this thread first meets torch while engine 1 works
        list(propagate_shot(engines[count], greys, {0: chroma}))
        after[name] = torch.get_num_threads()  # a thread that asked for no count of its own
        if count == 2:
            two_done.set()

    original = torch.get_num_threads()
    torch.set_num_threads(DEFAULT)
    try:
        callers = [threading.Thread(target=colour, args=(count, f"caller of engine {count}")) for count in (1, 2)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join()
        later = threading.Thread(target=lambda: after.update({"a thread started afterwards": torch.get_num_threads()}))
        later.start()
        later.join()
        after["this thread"] = torch.get_num_threads()
    finally:
        torch.set_num_threads(original)
    assert seen == {1: {1}, 2: {2}}  # every step of each engine ran with its own count
    assert after == dict.fromkeys(
        ["caller of engine 1", "caller of engine 2", "a thread started afterwards", "this thread"], DEFAULT
    )
