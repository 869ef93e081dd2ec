"""The state store: what a request looks up never waits on another request's disk."""

from __future__ import annotations

import threading

import pytest
import torch

from dvcp_plugin.runtime.engine import StepOutput
from dvcp_plugin.runtime.shot_map import Chain
from dvcp_plugin.runtime.state_store import StateStore

CHAIN = Chain(0, 1)


def _output(value: float) -> StepOutput:
    chroma = torch.full((1, 2, 16, 16), value)  # 2 KiB: bigger than the results' share, so only the newest is kept
    return StepOutput(chroma, chroma.clone(), chroma[:, :1].clone(), chroma.clone(), chroma[:, :1].clone())


def _blocking(monkeypatch, name: str) -> tuple[threading.Event, threading.Event]:
    """``torch.<name>`` made to wait, once called, until released: (called, release)."""
    called, release = threading.Event(), threading.Event()
    real = getattr(torch, name)

    def slow(*args, **kwargs):
        called.set()
        assert release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, name, slow)
    return called, release


def _answers_meanwhile(store: StateStore) -> bool:
    """Whether lookups of the store answer (within 5 s) from another thread."""
    done = threading.Event()

    def look_up():
        store.output(CHAIN, 2)
        store.memory_bytes()
        done.set()

    threading.Thread(target=look_up, daemon=True).start()
    return done.wait(5)


@pytest.mark.parametrize("io", ["save", "load"])
def test_a_checkpoint_goes_to_disk_and_back_outside_the_stores_lock(monkeypatch, io):
    store = StateStore(budget=4 * 2048, checkpoint_interval=1)  # the checkpoints' share holds one
    store.put(CHAIN, 1, _output(0.1))
    if io == "save":
        called, release = _blocking(monkeypatch, "save")
        work = threading.Thread(target=store.put, args=(CHAIN, 2, _output(0.2)))  # spills frame 1's checkpoint
    else:
        store.put(CHAIN, 2, _output(0.2))
        assert store.checkpoints.spilled == 1
        called, release = _blocking(monkeypatch, "load")
        found = []
        work = threading.Thread(target=lambda: found.append(store.resume_point(CHAIN, 2)))  # reads frame 1 back
    work.start()
    try:
        assert called.wait(10)
        assert _answers_meanwhile(store), f"a lookup waited for torch.{io} of a checkpoint"
    finally:
        release.set()
        work.join()
    if io == "load":
        ((frame, final),) = found
        assert frame == 1 and torch.equal(final, _output(0.1).final)
