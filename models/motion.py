"""Dense motion between grey frames, warping by it, and how far it can be trusted.

A motion estimator maps two grey frames ``source`` and ``target`` (B,1,H,W) in [0, 1] to a flow
(B,2,H,W) in pixels, x then y, such that ``source(p) ≈ target(p + flow(p))``: *backward* motion
when ``target`` is the earlier frame. Flows are float32 on the frames' device whatever the frames'
precision: they are coordinates, and half precision cannot address the pixels of a large frame
(its steps are 0.5 px from 512 px on). :func:`warp` then brings anything aligned with ``target``
onto ``source``'s grid. The built-in estimator is OpenCV's DIS optical flow; others (learned or
third-party) implement :class:`MotionEstimator` and register through the plugin hooks.
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

DIS_PRESETS: dict[str, int] = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
# scales of the hand-made reliability: forward-backward inconsistency in pixels, luma residual
INCONSISTENCY_SCALE = 1.0
RESIDUAL_SCALE = 0.1
SIZES_PER_THREAD = 4  # DIS objects a thread keeps, one per image size, the least recently used dropped


class MotionEstimator(ABC):
    """Interface: ``estimator(source, target)`` -> flow (B,2,H,W) with source(p) ≈ target(p + flow(p))."""

    @abstractmethod
    def __call__(self, source: Tensor, target: Tensor) -> Tensor:
        """The flow from ``source`` to ``target``, both grey (B,1,H,W) in [0, 1]; float32 on their device,
        no gradient."""


class DISMotion(MotionEstimator):
    """OpenCV's DIS optical flow on 8-bit greys.

    One DIS object per thread (they are not thread-safe) and per image size: an object that has
    seen another size returns slightly different flow, so a frame's flow would depend on which
    frames the thread computed before it. A thread keeps the objects of its last
    ``SIZES_PER_THREAD`` sizes (training crops come in many sizes).

    ``finest_pixels``: DIS computes the flow down to a level of its image pyramid (the preset's
    finest scale: half the size for ``medium``, a quarter for ``fast`` and ``ultrafast``) and
    upsamples it; with this option that level is made finer where it would have fewer pixels, so
    that a cheap preset stays accurate on small frames, where it costs little anyway.
    """

    def __init__(self, preset: str = "medium", finest_pixels: int | None = None) -> None:
        if preset not in DIS_PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}; choose one of {', '.join(DIS_PRESETS)}")
        if finest_pixels is not None and finest_pixels < 1:
            raise ValueError(f"finest_pixels must be a positive number of pixels, got {finest_pixels}")
        self.preset, self.finest_pixels = preset, finest_pixels
        self._local = threading.local()

    def _dis(self, size: tuple[int, int]) -> cv2.DISOpticalFlow:
        objects: OrderedDict[tuple[int, int], cv2.DISOpticalFlow] | None = getattr(self._local, "objects", None)
        if objects is None:
            objects = self._local.objects = OrderedDict()
        if size in objects:
            objects.move_to_end(size)
        else:
            dis = objects[size] = cv2.DISOpticalFlow.create(DIS_PRESETS[self.preset])
            if self.finest_pixels is not None:
                # the coarsest level (scale s: the image halved s times) that keeps finest_pixels
                halvings = int(math.floor(math.log2(max(1.0, size[0] * size[1] / self.finest_pixels)) / 2))
                dis.setFinestScale(min(dis.getFinestScale(), halvings))
            if len(objects) > SIZES_PER_THREAD:  # a fresh object gives the flow a used one would
                objects.popitem(last=False)
        return objects[size]

    def __call__(self, source: Tensor, target: Tensor) -> Tensor:
        """DIS flow per batch item, computed on the CPU (from 8-bit greys made on the frames' device)
        and returned on ``source``'s device."""
        a, b = to_u8(source), to_u8(target)
        dis = self._dis((a.shape[-2], a.shape[-1]))
        # None: OpenCV makes the flow (its stubs do not say so)
        flows = np.stack([dis.calc(a[i, 0], b[i, 0], None) for i in range(a.shape[0])])  # type: ignore[call-overload]
        return torch.from_numpy(flows).permute(0, 3, 1, 2).to(source.device, torch.float32)


def to_u8(grey: Tensor) -> np.ndarray:
    """Grey (B,1,H,W) in [0, 1] -> uint8 numpy, rounded: what DIS reads."""
    return (grey.detach().float().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).cpu().numpy()


def resize_flow(flow: Tensor, size: tuple[int, int]) -> Tensor:
    """A flow (B,2,h,w) resampled to ``size``, its vectors scaled to the new pixel units."""
    height, width = flow.shape[-2:]
    if (height, width) == tuple(size):
        return flow
    out = F.interpolate(flow, size=size, mode="bilinear", align_corners=False)
    return torch.cat([out[:, :1] * (size[1] / width), out[:, 1:] * (size[0] / height)], dim=1)


WARP_MODES = ("bilinear", "bicubic")


def warp(image: Tensor, flow: Tensor, mode: str = "bilinear") -> Tensor:
    """``image`` (B,C,H,W) sampled at p + flow(p): bilinear (or bicubic), borders replicated, in
    ``image``'s dtype.

    The sampling grid is built and the image sampled in float32 whatever the dtypes of the two, so
    that a half-precision image is sampled where a float32 one is.
    """
    flow = flow.float()
    _, _, height, width = flow.shape
    ys = torch.arange(height, device=flow.device, dtype=flow.dtype).view(1, height, 1)
    xs = torch.arange(width, device=flow.device, dtype=flow.dtype).view(1, 1, width)
    grid_x = (xs + flow[:, 0] + 0.5) * (2.0 / width) - 1.0
    grid_y = (ys + flow[:, 1] + 0.5) * (2.0 / height) - 1.0
    grid = torch.stack([grid_x, grid_y], dim=-1)
    sampled = F.grid_sample(image.float(), grid, mode=mode, padding_mode="border", align_corners=False)
    return sampled.to(image.dtype)


def vector_length(field: Tensor) -> Tensor:
    """The length (B,1,H,W) of a two-channel field (B,2,H,W) at every pixel.

    Written out rather than ``norm(dim=1)``, which torch reduces over a 2-long channel axis about
    50 times slower on the CPU.
    """
    return (field[:, :1].square() + field[:, 1:].square()).sqrt()


def inconsistency(forward: Tensor, backward: Tensor) -> Tensor:
    """|f(p) + b(p + f(p))| in pixels (B,1,H,W): 0 where the two flows agree, large at occlusions."""
    return vector_length(forward + warp(backward, forward))


PHOTOMETRIC_CELLS = 8  # the residual's offset field: a robust offset per cell of an 8 x 8 grid over the frame


def offset_field(residual: Tensor, cells: int = PHOTOMETRIC_CELLS) -> Tensor:
    """A smooth per-pixel offset (B,1,H,W) fitted to ``residual``: the median of each cell of a
    ``cells`` × ``cells`` grid, interpolated bilinearly. The median ignores what occupies less than
    half a cell (occlusions, dust), so the field holds only what changes the whole frame's brightness
    slowly across it: exposure flicker, not motion failures."""
    batch, _, height, width = residual.shape
    rows, cols = min(cells, height), min(cells, width)
    cell_h, cell_w = -(-height // rows), -(-width // cols)
    padded = F.pad(residual.float(), (0, cell_w * cols - width, 0, cell_h * rows - height), mode="replicate")
    blocks = padded.view(batch, 1, rows, cell_h, cols, cell_w).permute(0, 1, 2, 4, 3, 5).flatten(-2)
    medians = blocks.median(dim=-1).values
    return F.interpolate(medians, size=(height, width), mode="bilinear", align_corners=False).to(residual.dtype)


def aligned(warped_grey: Tensor, grey: Tensor) -> Tensor:
    """``warped_grey`` brought to ``grey``'s exposure: plus the smooth offset field of their difference."""
    return warped_grey + offset_field(grey - warped_grey)


def reliability(
    grey: Tensor,
    warped_grey: Tensor,
    disagreement: Tensor,
    inconsistency_scale: float = INCONSISTENCY_SCALE,
    residual_scale: float = RESIDUAL_SCALE,
) -> Tensor:
    """How far a motion-compensated estimate can be trusted, in [0, 1] (B,1,H,W), in ``grey``'s dtype.

    High where the forward and backward motion agree (``disagreement`` in pixels) and the warped
    grey matches the grey of the frame itself.
    """
    residual = (grey - warped_grey).abs()
    trust = torch.exp(-((disagreement / inconsistency_scale) ** 2) - (residual / residual_scale) ** 2)
    return trust.to(grey.dtype)
