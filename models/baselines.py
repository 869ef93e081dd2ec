"""Classical baselines of colour propagation that dvcp is measured against (the evaluation protocol, docs/TRAINING.md).

Both take what :meth:`dvcp_plugin.runtime.engine.Engine.run_shot` takes, full-resolution grey
frames (H,W) in [0, 1] holding 8-bit values and the keyframe's zero-centred chroma (2,H,W), and
yield full-resolution chroma (2,H,W) per frame, keyframe first, one frame at a time:

- :func:`key_chroma_copy`: the keyframe's chroma on every frame;
- :func:`flow_propagation` (:class:`FlowPropagation`): DIS optical flow (OpenCV, medium preset)
  from each grey frame to the previous one, and the previous output's chroma warped along it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import cv2
import numpy as np
import torch
from torch import Tensor


def _grey_u8(grey: Tensor) -> np.ndarray:
    """Grey (H,W) in [0, 1] -> uint8 (H,W), rounded."""
    return (grey.detach().float().cpu() * 255.0).round().clamp(0, 255).to(torch.uint8).numpy()


class FlowPropagation:
    """Recursive DIS optical-flow propagation at full resolution, one frame per :meth:`step`.

    For frame k, flow = DIS(grey_k -> grey_{k-1}) on the 8-bit greys, so that
    grey_k(x) ≈ grey_{k-1}(x + flow(x)); chroma_k(x) = chroma_{k-1}(x + flow(x)), sampled
    bilinearly with the border replicated.
    """

    def __init__(self, key_grey: Tensor, key_chroma: Tensor) -> None:
        if key_chroma.dim() != 3 or key_chroma.shape[0] != 2 or key_chroma.shape[1:] != key_grey.shape:
            raise ValueError(
                f"expected grey (H,W) and chroma (2,H,W) of one size, got {tuple(key_grey.shape)} "
                f"and {tuple(key_chroma.shape)}"
            )
        self._dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self._grey = _grey_u8(key_grey)
        self._chroma = np.ascontiguousarray(key_chroma.detach().float().cpu().permute(1, 2, 0).numpy())
        height, width = self._grey.shape
        self._grid = np.stack(np.meshgrid(np.arange(width), np.arange(height)), axis=-1).astype(np.float32)

    def step(self, grey: Tensor) -> Tensor:
        """The chroma (2,H,W) of the next frame from its grey (H,W) in [0, 1]."""
        current = _grey_u8(grey)
        if current.shape != self._grey.shape:
            raise ValueError(f"frame of size {current.shape} in a shot of size {self._grey.shape}")
        flow = self._dis.calc(current, self._grey, None)  # type: ignore[call-overload]  # None: a new flow
        self._chroma = cv2.remap(
            self._chroma, self._grid + flow, None, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        self._grey = current
        return torch.from_numpy(self._chroma).permute(2, 0, 1).clone()


def flow_propagation(greys: Iterable[Tensor], key_chroma: Tensor) -> Iterator[Tensor]:
    """DIS optical-flow propagation of ``key_chroma`` through a shot whose first grey is the keyframe's."""
    frames = iter(greys)
    try:
        first = next(frames)
    except StopIteration:
        return
    propagation = FlowPropagation(first, key_chroma)
    yield key_chroma
    for grey in frames:
        yield propagation.step(grey)


def key_chroma_copy(greys: Iterable[Tensor], key_chroma: Tensor) -> Iterator[Tensor]:
    """The keyframe's chroma on every frame of a shot (one per grey frame)."""
    for _ in greys:
        yield key_chroma
