"""A worker holds its engine: the weights are read once for all the shots it colours."""

from __future__ import annotations

import shutil
from pathlib import Path

from batch_archive import write_key, write_shot

from dvcp_plugin.batch.work import Part
from dvcp_plugin.batch.worker import ShotWorker
from dvcp_plugin.options import Options
from dvcp_plugin.runtime import engine


def test_a_worker_reads_the_weights_once_for_all_its_shots(tmp_path, weights, monkeypatch):
    weights = Path(shutil.copy(weights, tmp_path / "w.pt"))  # a file of its own: no other test's engine has its key
    reads = []
    load_weights = engine.load_weights
    monkeypatch.setattr(engine, "load_weights", lambda path: reads.append(path) or load_weights(path))
    worker = ShotWorker()
    for k in range(3):
        colour = write_shot(tmp_path / f"shot{k}", 3, seed=k)
        part = Part(
            name=f"shot{k}", input=tmp_path / f"shot{k}", frames=None, output=tmp_path / f"out{k}",
            keyframes={0: write_key(tmp_path / f"key{k}.png", colour[0])}, options=Options(weights=weights),
        )
        result = worker.colour(part)
        assert (result.status, result.written) == ("done", 3)
    assert len(reads) == 1
