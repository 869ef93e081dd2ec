"""Training data and evaluation read a frame folder in natural name order, as `dvcp colorize` does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dvcp_plugin.evaluation.protocol import evaluate
from dvcp_plugin.filters.images import read_image, write_image
from dvcp_plugin.media.sources import list_frames
from dvcp_plugin.models.color import grey_u8
from dvcp_plugin.options import EngineOptions
from dvcp_plugin.runtime.engine import Engine
from dvcp_plugin.stages.build import untrained_weights
from dvcp_plugin.stages.weights import save_weights
from dvcp_plugin.training.clips import ClipDataset
from dvcp_plugin.training.data import find_sequences

FRAMES = 12


def colour(k: int) -> np.ndarray:
    """Frame k: one colour over 64x64 pixels, brighter for every k."""
    return np.broadcast_to(np.array([20 * k + 10, 15 * k + 30, 200 - 10 * k], np.uint8), (64, 64, 3)).copy()


@pytest.fixture(scope="module")
def unpadded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sequence folder of frames named f0.png .. f11.png (no zero padding)."""
    folder = tmp_path_factory.mktemp("order") / "seq"
    folder.mkdir()
    for k in range(FRAMES):
        write_image(folder / f"f{k}.png", colour(k))
    return folder


def test_training_data_reads_frames_in_natural_order(unpadded):
    expected = [unpadded / f"f{k}.png" for k in range(FRAMES)]
    assert list_frames(unpadded) == expected  # the order of `dvcp colorize`
    sequence = find_sequences([unpadded])[0]
    assert list(sequence.frames) == expected
    dataset = ClipDataset([sequence], chroma_scale=1.0, crop=16)
    assert dataset.frames[0][:, 0, 0, 0].tolist() == [int(grey_u8(colour(k))[0, 0]) for k in range(FRAMES)]


def test_evaluation_reads_frames_in_natural_order(unpadded, tmp_path):
    weights = save_weights(tmp_path / "w.pt", untrained_weights(0))
    sequence = find_sequences([unpadded])[0]
    _, _, sheet = evaluate(Engine(EngineOptions(weights=weights)), [sequence], [FRAMES], sequence.name)
    assert [row.frame for row in sheet.rows] == [1, 4, 6, 8, 11]
    for row in sheet.rows:
        assert np.array_equal(row.truth, read_image(unpadded / f"f{row.frame}.png"))
        assert np.array_equal(row.grey, grey_u8(colour(row.frame)))
