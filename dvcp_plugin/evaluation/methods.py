"""The methods that ``dvcp eval`` and ``dvcp demo`` score side by side: dvcp and the classical baselines.

A method colours a shot from its grey frames (H,W) in [0, 1] and the keyframe's chroma (2,H,W),
yielding full-resolution chroma (2,H,W) per frame, keyframe first, one frame at a time. Every
method's output RGB is made the same way, by :func:`output_rgb`, so all are scored alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from ..models.baselines import flow_propagation, key_chroma_copy
from ..models.color import luma_chroma_to_rgb
from ..runtime.engine import Engine
from ..training.data import frame_planes

Method = Callable[[Sequence[Tensor], Tensor], Iterator[Tensor]]

BASELINES: dict[str, Method] = {"flow": flow_propagation, "key": key_chroma_copy}
LABELS: dict[str, str] = {  # what each method is, for the report
    "dvcp": "dvcp",
    "flow": "DIS optical-flow propagation (OpenCV, medium preset, full resolution)",
    "key": "key-frame chroma copied onto every frame",
}
SHORT_NAMES: dict[str, str] = {"dvcp": "dvcp", "flow": "DIS flow propagation", "key": "key-frame chroma copied"}


def dvcp_method(engine: Engine) -> Method:
    """dvcp as a method: :meth:`Engine.run_shot`, its final chroma upsampled by :meth:`Engine.to_full`."""

    def run(greys: Sequence[Tensor], key_chroma: Tensor) -> Iterator[Tensor]:
        for out in engine.run_shot(greys, key_chroma):
            yield engine.to_full(out.final, tuple(greys[0].shape))

    return run


def output_rgb(grey: Tensor, chroma: Tensor) -> np.ndarray:
    """The output frame of grey (H,W) in [0, 1] and chroma (2,H,W): BT.601 RGB, uint8 (H,W,3), rounded."""
    rgb = luma_chroma_to_rgb(grey[None, None].float(), chroma[None].float())
    return (rgb[0] * 255.0).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def colour_shot(method: Method, shot: np.ndarray) -> np.ndarray:
    """Colour a uint8 RGB shot (N,H,W,3) with ``method`` from its 8-bit grey and frame 0's chroma -> (N,H,W,3)."""
    planes = [frame_planes(frame) for frame in shot]
    greys = [grey for grey, _ in planes]
    return np.stack([output_rgb(grey, chroma) for grey, chroma in zip(greys, method(greys, planes[0][1]), strict=True)])
