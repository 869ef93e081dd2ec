"""Shared engines: engines of different keys build at the same time, one key builds once."""

from __future__ import annotations

import threading
from collections import Counter

from dvcp_plugin.options import EngineOptions
from dvcp_plugin.runtime import pipeline
from dvcp_plugin.runtime.pipeline import engine_key, shared_engine


class _Built:
    """What a key built here (no engine: nothing is loaded)."""

    def __init__(self, key: pipeline.EngineKey) -> None:
        self.key = key


def test_engines_of_two_keys_build_at_once_and_each_key_builds_once(weights, monkeypatch):
    keys = [engine_key(EngineOptions(weights=weights, threads=count)) for count in (7, 9)]  # keys no other test uses
    both_building = threading.Barrier(2, timeout=30)  # passed only while both builds run at once
    builds: Counter[int] = Counter()

    def build(key: pipeline.EngineKey) -> _Built:
        builds[key.options.threads] += 1
        both_building.wait()
        return _Built(key)

    monkeypatch.setattr(pipeline.EngineKey, "build", build)
    got: list[_Built] = []
    askers = [threading.Thread(target=lambda key=key: got.append(shared_engine(key))) for key in keys * 3]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join()
    assert builds == {7: 1, 9: 1}
    engines = {key: {id(engine) for engine in got if engine.key == key} for key in keys}
    assert len(got) == 6 and [len(ids) for ids in engines.values()] == [1, 1]  # one engine per key, shared
