"""Tiny generated colour sequences for the training and evaluation tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from dvcp_plugin.filters.images import write_image

WIDTH, HEIGHT = 96, 64


def make_sequence(folder: Path, frames: int, seed: int, step: tuple[int, int] = (2, 1)) -> Path:
    """A smooth random colour texture with luma detail, translated by ``step`` pixels per frame."""
    rng = np.random.default_rng(seed)
    dx, dy = step
    canvas_w, canvas_h = WIDTH + abs(dx) * frames + 8, HEIGHT + abs(dy) * frames + 8
    coarse = rng.uniform(0, 255, (6, 8, 3)).astype(np.float32)
    colour = cv2.resize(coarse, (canvas_w, canvas_h), interpolation=cv2.INTER_CUBIC)
    detail = cv2.resize(rng.uniform(-40, 40, (canvas_h // 4, canvas_w // 4)).astype(np.float32),
                        (canvas_w, canvas_h), interpolation=cv2.INTER_LINEAR)
    canvas = np.clip(colour + detail[..., None], 0, 255).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(frames):
        x = 4 + (t * dx if dx >= 0 else (frames - t) * -dx)
        y = 4 + (t * dy if dy >= 0 else (frames - t) * -dy)
        write_image(folder / f"{t:05d}.png", np.ascontiguousarray(canvas[y : y + HEIGHT, x : x + WIDTH]))
    return folder


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of three 8-frame 96x64 sequences moving in different directions."""
    root = tmp_path_factory.mktemp("tiny_data")
    for i, step in enumerate([(2, 1), (-2, 0), (1, -2)]):
        make_sequence(root / f"seq{i}", 8, seed=i, step=step)
    return root
