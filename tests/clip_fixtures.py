"""Fixtures of the tests that run dvcp's filters on VapourSynth clips: small moving-texture clips,
keyframe images and weights files. Their conftest.py files take them in (``from clip_fixtures import *``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs

from dvcp_plugin.stages.build import untrained_weights
from dvcp_plugin.stages.weights import save_weights

WIDTH, HEIGHT, LENGTH = 64, 48, 12


def texture(n: int, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """Frame ``n`` of a texture that moves 2 px right per frame, as float64 luma in [0.1, 0.9]."""
    yy, xx = np.mgrid[:height, :width].astype(np.float64)
    wave = np.sin((xx - 2 * n) / 4.0) * np.cos(yy / 6.0) + 0.5 * np.sin((xx + yy - 2 * n) / 9.0)
    return 0.5 + 0.4 * wave / 1.5


def _samples(values: np.ndarray, fmt: vs.VideoFormat, limited: bool) -> np.ndarray:
    if fmt.sample_type == vs.FLOAT:
        return values.astype(np.float32)
    bits = fmt.bits_per_sample
    if limited:
        return np.rint((values * 219 + 16) * 2 ** (bits - 8))
    return np.rint(values * (2**bits - 1))


def make_clip(
    fmt: int = vs.YUV420P8,
    length: int = LENGTH,
    scene_changes: Iterable[int] = (),
    props: dict | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> vs.VideoNode:
    """A grey moving-texture clip of ``fmt`` (YUV: limited range, neutral chroma; GRAY/RGB: full).

    Frames in ``scene_changes`` carry ``_SceneChangePrev=1``, and the texture jumps there.
    """
    core = vs.core
    blank = core.std.BlankClip(format=fmt, width=width, height=height, length=length, keep=True)
    fmt_info = blank.format
    cuts = sorted(scene_changes)
    limited = fmt_info.color_family == vs.YUV

    def draw(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        shot = sum(1 for c in cuts if c <= n)
        luma = texture(n + 37 * shot, height, width)
        planes = [0, 1, 2] if fmt_info.color_family == vs.RGB else [0]
        for i in planes:
            np.asarray(out[i])[...] = _samples(luma, fmt_info, limited)
        if fmt_info.color_family == vs.YUV:
            neutral = 0.0 if fmt_info.sample_type == vs.FLOAT else 2 ** (fmt_info.bits_per_sample - 1)
            for i in (1, 2):
                np.asarray(out[i])[...] = neutral
        if n in cuts:
            out.props["_SceneChangePrev"] = 1
        out.props.update(props or {})
        return out

    return core.std.ModifyFrame(blank, blank, draw)


def key_image(seed: int = 0, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """A colour keyframe (H,W,3) uint8: four coloured quadrants with a gradient."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.uint8)
    colours = rng.integers(30, 226, size=(4, 3))
    image[: height // 2, : width // 2] = colours[0]
    image[: height // 2, width // 2 :] = colours[1]
    image[height // 2 :, : width // 2] = colours[2]
    image[height // 2 :, width // 2 :] = colours[3]
    ramp = np.linspace(-20, 20, width)[None, :, None]
    return np.clip(image + ramp, 0, 255).astype(np.uint8)


PAPER_STAGES = {"local": "sepconv", "global": "compact", "refine": "fcn"}


def _changing_refine_weights(folder: Path, names: dict[str, str] | None = None) -> Path:
    """Untrained weights whose refine stage does change its input (its zero head is randomised)."""
    data = untrained_weights(seed=0, names=names)
    head = data["stages"]["refine"]["state"]
    gen = torch.Generator().manual_seed(1)
    head["head.weight"] = torch.randn(head["head.weight"].shape, generator=gen) * 0.01
    head["head.bias"] = torch.full_like(head["head.bias"], 0.01)
    return save_weights(folder / "dvcp-test.pt", data)


@pytest.fixture(scope="session")
def weights(tmp_path_factory) -> Path:
    """Untrained default stages whose refine stage changes its input."""
    return _changing_refine_weights(tmp_path_factory.mktemp("weights"))


@pytest.fixture(scope="session")
def paper_weights(tmp_path_factory) -> Path:
    """Untrained paper-style stages (sepconv, compact, fcn) whose refine stage changes its input."""
    return _changing_refine_weights(tmp_path_factory.mktemp("paper-weights"), PAPER_STAGES)


@pytest.fixture
def opts(weights) -> dict:
    """Options every test passes: the test weights, one torch thread (small shared machine)."""
    return {"weights": str(weights), "threads": 1}


def planes(frame: vs.VideoFrame) -> list[np.ndarray]:
    """Copies of a frame's planes."""
    return [np.array(frame[i]) for i in range(frame.format.num_planes)]


@pytest.fixture(name="make_clip")
def make_clip_fixture() -> Callable[..., vs.VideoNode]:
    """:func:`make_clip`."""
    return make_clip


@pytest.fixture(name="key_image")
def key_image_fixture() -> Callable[..., np.ndarray]:
    """:func:`key_image`."""
    return key_image


@pytest.fixture(name="planes")
def planes_fixture() -> Callable[[vs.VideoFrame], list[np.ndarray]]:
    """:func:`planes`."""
    return planes

