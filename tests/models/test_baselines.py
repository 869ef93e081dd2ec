"""The classical baselines: DIS flow propagation follows a known motion; the key-chroma copy copies."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from dvcp_plugin.models.baselines import FlowPropagation, flow_propagation, key_chroma_copy

HEIGHT, WIDTH, FRAMES = 96, 128, 5
SHIFT = (1, 2)  # (rows, columns) per frame
MARGIN = 16  # pixels from each border left out: replicated borders and flow near them


def smooth_field(rng: np.random.Generator, channels: int, low: float, high: float) -> np.ndarray:
    """A smooth random field (channels, HEIGHT, WIDTH) with values in [low, high]."""
    coarse = rng.uniform(low, high, (HEIGHT // 12, WIDTH // 12, channels)).astype(np.float32)
    field = cv2.resize(coarse, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC).reshape(HEIGHT, WIDTH, channels)
    return np.clip(field, low, high).transpose(2, 0, 1)


@pytest.fixture(scope="module")
def moving_shot() -> tuple[list[torch.Tensor], np.ndarray]:
    """8-bit greys of a textured picture translated by SHIFT every frame, and frame 0's chroma (2,H,W)."""
    rng = np.random.default_rng(3)
    texture = smooth_field(rng, 1, 40, 200)[0] + cv2.GaussianBlur(rng.uniform(-30, 30, (HEIGHT, WIDTH)), (0, 0), 1.0)
    grey0 = np.clip(np.round(texture), 0, 255).astype(np.uint8)
    greys = [np.roll(grey0, (k * SHIFT[0], k * SHIFT[1]), axis=(0, 1)) for k in range(FRAMES)]
    chroma0 = smooth_field(rng, 2, -0.3, 0.3)
    return [torch.from_numpy(g).float() / 255.0 for g in greys], chroma0


def test_flow_propagation_moves_the_chroma_with_the_picture(moving_shot):
    greys, chroma0 = moving_shot
    outputs = list(flow_propagation(greys, torch.from_numpy(chroma0)))
    assert len(outputs) == FRAMES
    assert torch.equal(outputs[0], torch.from_numpy(chroma0))
    inner = (slice(None), slice(MARGIN, -MARGIN), slice(MARGIN, -MARGIN))
    for k in range(1, FRAMES):
        expected = np.roll(chroma0, (k * SHIFT[0], k * SHIFT[1]), axis=(1, 2))
        error = np.abs(outputs[k].numpy() - expected)[inner]
        unmoved = np.abs(chroma0 - expected)[inner]
        assert outputs[k].shape == (2, HEIGHT, WIDTH) and outputs[k].dtype == torch.float32
        assert error.mean() < 0.002 and error.max() < 0.03, f"frame {k}: mean {error.mean()}, max {error.max()}"
        assert unmoved.mean() > 10 * error.mean()  # the expectation really differs from not moving


def test_flow_propagation_streams_one_frame_at_a_time(moving_shot):
    greys, chroma0 = moving_shot
    propagation = FlowPropagation(greys[0], torch.from_numpy(chroma0))
    stepped = [propagation.step(grey) for grey in greys[1:]]
    for k, output in enumerate(flow_propagation(greys, torch.from_numpy(chroma0))):
        if k:
            assert torch.equal(output, stepped[k - 1])


def test_without_motion_flow_propagation_is_the_key_chroma_copy(moving_shot):
    greys, chroma0 = moving_shot
    still = [greys[0]] * 4
    key = torch.from_numpy(chroma0)
    copied = list(key_chroma_copy(still, key))
    assert len(copied) == 4 and all(torch.equal(c, key) for c in copied)
    for flowed, copy in zip(flow_propagation(still, key), copied, strict=True):
        assert torch.equal(flowed, copy)


def test_flow_propagation_rejects_mismatched_sizes(moving_shot):
    greys, chroma0 = moving_shot
    with pytest.raises(ValueError, match="one size"):
        FlowPropagation(greys[0], torch.from_numpy(chroma0)[:, :-1])
    propagation = FlowPropagation(greys[0], torch.from_numpy(chroma0))
    with pytest.raises(ValueError, match="in a shot of size"):
        propagation.step(greys[1][:, :-2])
    assert list(flow_propagation([], torch.from_numpy(chroma0))) == []
