"""The methods that ``dvcp eval`` and ``dvcp demo`` score side by side: dvcp and the classical baselines.

A method colours a shot from its grey frames (H,W) in [0, 1] and its keyframes {frame: chroma
(2,H,W)}, yielding full-resolution chroma (2,H,W) per frame, in frame order, one frame at a time.
Every method's output RGB is made the same way, by :func:`output_rgb`, so all are scored alike.

dvcp colours a shot as the VapourSynth filter does (:func:`~dvcp_plugin.runtime.sequential.propagate_shot`).
The baselines of :mod:`dvcp_plugin.models.baselines` propagate forward from one keyframe;
:func:`both_ways` gives them keyframes anywhere: between two keyframes each runs forward from the
one before and backward from the one after, blended by distance alone (they have no confidence).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from ..models.baselines import flow_propagation, key_chroma_copy
from ..models.color import luma_chroma_to_rgb
from ..runtime.engine import Engine
from ..runtime.sequential import propagate_shot
from ..training.data import frame_planes

Method = Callable[[Sequence[Tensor], Mapping[int, Tensor]], Iterator[Tensor]]
Forward = Callable[[Iterable[Tensor], Tensor], Iterator[Tensor]]  # greys, keyframe chroma (first grey's)


def both_ways(forward: Forward) -> Method:
    """A method from a forward propagation: backward from the first keyframe before it, forward from the last
    after it, and between two keyframes a and b both, blended per frame n by (b − n)·F_a + (n − a)·F_b."""

    def run(greys: Sequence[Tensor], keys: Mapping[int, Tensor]) -> Iterator[Tensor]:
        positions = sorted(keys)
        first, last = positions[0], positions[-1]
        yield from reversed(list(forward(greys[first::-1], keys[first]))[1:])
        for a, b in zip(positions, positions[1:], strict=False):
            ahead, behind = forward(greys[a:b], keys[a]), list(forward(greys[b:a:-1], keys[b]))[::-1]
            yield next(ahead)
            for n, from_a, from_b in zip(range(a + 1, b), ahead, behind, strict=False):
                yield ((b - n) * from_a + (n - a) * from_b) / (b - a)
        yield from forward(greys[last:], keys[last])

    return run


BASELINES: dict[str, Method] = {"flow": both_ways(flow_propagation), "key": both_ways(key_chroma_copy)}
_BOTH_WAYS = "; between keyframes, forward and backward blended by distance"
LABELS: dict[str, str] = {  # what each method is, for the report
    "dvcp": "dvcp",
    "flow": "DIS optical-flow propagation (OpenCV, medium preset, full resolution)" + _BOTH_WAYS,
    "key": "key-frame chroma copied onto every frame" + _BOTH_WAYS,
}
SHORT_NAMES: dict[str, str] = {"dvcp": "dvcp", "flow": "DIS flow propagation", "key": "key-frame chroma copied"}


ESTIMATES = ("final", "local", "global")


def dvcp_method(engine: Engine, estimate: str = "final") -> Method:
    """dvcp as a method: :func:`propagate_shot`, its ``estimate`` (final, local or global chroma)
    upsampled by :meth:`Engine.to_full`."""
    if estimate not in ESTIMATES:
        raise ValueError(f"unknown estimate {estimate!r}; known: {', '.join(ESTIMATES)}")
    field = "global_" if estimate == "global" else estimate

    def run(greys: Sequence[Tensor], keys: Mapping[int, Tensor]) -> Iterator[Tensor]:
        for out in propagate_shot(engine, greys, keys):
            yield engine.to_full(getattr(out, field), (greys[0].shape[-2], greys[0].shape[-1]))

    return run


def output_rgb(grey: Tensor, chroma: Tensor) -> np.ndarray:
    """The output frame of grey (H,W) in [0, 1] and chroma (2,H,W): BT.601 RGB, uint8 (H,W,3), rounded."""
    rgb = luma_chroma_to_rgb(grey[None, None].float(), chroma[None].float())
    return (rgb[0] * 255.0).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def colour_shot(method: Method, shot: np.ndarray) -> np.ndarray:
    """Colour a uint8 RGB shot (N,H,W,3) with ``method`` from its 8-bit grey and frame 0's chroma -> (N,H,W,3)."""
    planes = [frame_planes(frame) for frame in shot]
    greys = [grey for grey, _ in planes]
    chromas = method(greys, {0: planes[0][1]})
    return np.stack([output_rgb(grey, chroma) for grey, chroma in zip(greys, chromas, strict=True)])
