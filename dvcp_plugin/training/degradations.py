"""Scan-like degradations of grey frames: what a film scan adds to the luma that colouring must ignore.

Used by ``dvcp eval --degrade`` (scoring on degraded input) and by training (as augmentation).
Every degradation is seeded and applied to a whole sequence at once, so a sequence degrades the
same way on every run, and the ones that evolve over time (weave, a scratch) stay coherent from
frame to frame. Sizes are given for a frame 480 lines high and scaled with the frame's height.

The degradations, in the order they are applied (the order of the physical process):

- ``blur``: soft optics, a Gaussian of σ = 0.7·s px;
- ``weave``: gate weave, a smooth random translation of each frame, σ = 0.7·s px;
- ``flicker``: exposure flicker, a gain (σ = 3·s %) and an offset (σ = 3·s levels of 255) per
  frame, and a gain varying slowly across the frame (a random tilt of up to about 2·s %);
- ``grain``: film grain, clumped (noise drawn at half resolution), strongest in the mid-tones,
  σ = 5·s levels at mid grey;
- ``dust``: about 6·s specks per frame, each on one frame only, dark or bright, 1–6 px across;
- ``scratch``: ceil(s) vertical scratches, each through the whole shot, wandering slowly;
- ``compression``: JPEG at quality 90 − 25·s.

``s`` is each degradation's strength (0: off, 1: typical of a scan, 2: heavy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import NamedTuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import DvcpError

_REFERENCE_HEIGHT = 480.0


class DegradationError(DvcpError):
    """A degradation spec that cannot be parsed."""


@dataclass(frozen=True)
class Degradations:
    """The strength of each degradation (0: off)."""

    blur: float = 0.0
    weave: float = 0.0
    flicker: float = 0.0
    grain: float = 0.0
    dust: float = 0.0
    scratch: float = 0.0
    compression: float = 0.0

    @property
    def active(self) -> bool:
        """True when any degradation is on."""
        return any(getattr(self, f.name) > 0 for f in fields(self))

    def spec(self) -> str:
        """The canonical spec text of these strengths (``none`` when all are off)."""
        parts = [f"{f.name}={getattr(self, f.name):g}" for f in fields(self) if getattr(self, f.name) > 0]
        return ",".join(parts) or "none"


NAMES = tuple(f.name for f in fields(Degradations))
CLEAN = Degradations()  # nothing degraded
# named sets: what a film scan adds, and that with soft optics and compression
SETS: dict[str, Degradations] = {
    "none": Degradations(),
    "scan": Degradations(weave=1, flicker=1, grain=1, dust=1, scratch=1),
    "all": Degradations(blur=1, weave=1, flicker=1, grain=1, dust=1, scratch=1, compression=1),
}


def parse_degradations(spec: str) -> Degradations:
    """``"scan"``, ``"all"``, ``"flicker=1,grain=2"`` or a set followed by overrides (``"scan,blur=1"``)."""
    result = Degradations()
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if "=" not in part:
            if part not in SETS:
                raise DegradationError(
                    f"unknown degradation set {part!r} in {spec!r}; sets: {', '.join(SETS)}; "
                    f"or NAME=STRENGTH with NAME one of {', '.join(NAMES)}"
                )
            result = SETS[part]
            continue
        name, _, value = (x.strip() for x in part.partition("="))
        if name not in NAMES:
            raise DegradationError(f"unknown degradation {name!r} in {spec!r}; known: {', '.join(NAMES)}")
        try:
            strength = float(value)
        except ValueError:
            raise DegradationError(f"strength of {name} must be a number, got {value!r}") from None
        if not math.isfinite(strength) or strength < 0:
            raise DegradationError(f"strength of {name} must be 0 or more, got {value!r}")
        result = replace(result, **{name: strength})
    return result


class Degraded(NamedTuple):
    """A degraded sequence: its greys, and the true chroma moved as the greys were (``None`` if not given)."""

    greys: list[Tensor]
    chroma: list[Tensor] | None


def degrade(
    greys: Sequence[Tensor],
    degradations: Degradations,
    seed: int = 0,
    chroma: Sequence[Tensor] | None = None,
    frame_height: int | None = None,
) -> Degraded:
    """The frames ``greys`` (each (H,W) or (1,H,W) in [0, 1], one size) degraded and quantised to 8 bits.

    ``chroma`` (each (2,H,W)), when given, is moved by the same gate weave as the greys: it is what a
    correct colouring of the degraded frames holds. Each degradation draws its own random numbers
    from ``seed``, so the same frames, strengths and seed always give the same result, and a
    degradation is the same whichever others are on. With nothing active the frames are returned as
    they are. ``frame_height`` is the height of the whole frame when ``greys`` are a part of it (the
    sizes of grain, dust, scratches and weave scale with it); by default the greys' own height.
    """
    if not degradations.active or not greys:
        return Degraded(list(greys), None if chroma is None else list(chroma))
    shape = greys[0].shape
    frames = torch.stack([g.reshape(g.shape[-2:]).float() for g in greys])[:, None]  # (T,1,H,W)
    d, scale = degradations, (frame_height or frames.shape[-2]) / _REFERENCE_HEIGHT

    def rng(index: int) -> torch.Generator:
        return torch.Generator().manual_seed(seed * len(NAMES) + index)

    moved = None if chroma is None else torch.stack([c.float() for c in chroma])
    if d.blur > 0:
        frames = _blur(frames, 0.7 * d.blur * scale)
    if d.weave > 0:
        theta = _weave(len(frames), 0.7 * d.weave * scale, (frames.shape[-2], frames.shape[-1]), rng(1))
        frames = _shift(frames, theta)
        moved = None if moved is None else _shift(moved, theta)
    if d.flicker > 0:
        frames = _flicker(frames, d.flicker, rng(2))
    if d.grain > 0:
        frames = _grain(frames, d.grain, rng(3))
    if d.dust > 0:
        frames = _dust(frames, d.dust, scale, rng(4))
    if d.scratch > 0:
        frames = _scratches(frames, d.scratch, scale, rng(5))
    frames = (frames.clamp(0.0, 1.0) * 255.0).round()
    if d.compression > 0:
        frames = _jpeg(frames, int(max(10, min(95, round(90 - 25 * d.compression)))))
    return Degraded([frame.reshape(shape) / 255.0 for frame in frames], None if moved is None else list(moved))


def random_degradations(generator: torch.Generator) -> Degradations:
    """Strengths drawn for training: each degradation on with probability ½, at a strength uniform in
    [0.25, 1.5]."""
    draws = torch.rand(len(NAMES), 2, generator=generator).tolist()
    strengths = {name: (0.25 + 1.25 * b if a < 0.5 else 0.0) for name, (a, b) in zip(NAMES, draws, strict=True)}
    return Degradations(**strengths)


def _normal(shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
    return torch.randn(shape, generator=generator)


def _uniform(shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
    return torch.rand(shape, generator=generator)


def _blur(frames: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of (T,1,H,W), reflected at the borders."""
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float32) / sigma) ** 2)
    taps = taps / taps.sum()
    padded = F.pad(frames, (radius, radius, radius, radius), mode="reflect")
    out = F.conv2d(padded, taps.view(1, 1, 1, -1))
    return F.conv2d(out, taps.view(1, 1, -1, 1))


def _weave(count: int, sigma: float, size: tuple[int, int], generator: torch.Generator) -> Tensor:
    """Affine matrices (T,2,3) of a smooth random translation per frame: an AR(1) walk of standard
    deviation ``sigma`` px."""
    height, width = size
    steps = _normal((count, 2), generator) * sigma * math.sqrt(1 - 0.7**2)
    shifts = torch.zeros(count, 2)
    shifts[0] = _normal((2,), generator) * sigma
    for t in range(1, count):
        shifts[t] = 0.7 * shifts[t - 1] + steps[t]
    theta = torch.zeros(count, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = shifts[:, 0] * 2.0 / width
    theta[:, 1, 2] = shifts[:, 1] * 2.0 / height
    return theta


def _shift(frames: Tensor, theta: Tensor) -> Tensor:
    """Frames (T,C,H,W) moved by the affine matrices ``theta``, bilinear, borders replicated."""
    grid = F.affine_grid(theta, list(frames.shape), align_corners=False)
    return F.grid_sample(frames, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _flicker(frames: Tensor, strength: float, generator: torch.Generator) -> Tensor:
    """A gain and an offset per frame, and a gain tilted slowly across the frame."""
    count, _, height, width = frames.shape
    gain = 1.0 + 0.03 * strength * _normal((count, 1, 1, 1), generator)
    offset = 3.0 / 255.0 * strength * _normal((count, 1, 1, 1), generator)
    tilt = 0.01 * strength * _normal((count, 2, 1, 1), generator)
    ys = torch.linspace(-1.0, 1.0, height).view(1, 1, height, 1)
    xs = torch.linspace(-1.0, 1.0, width).view(1, 1, 1, width)
    field = 1.0 + tilt[:, :1] * xs + tilt[:, 1:] * ys
    return frames * gain * field + offset


def _grain(frames: Tensor, strength: float, generator: torch.Generator) -> Tensor:
    """Clumped grain: noise drawn at half resolution and upsampled, strongest in the mid-tones."""
    count, _, height, width = frames.shape
    coarse = _normal((count, 1, (height + 1) // 2, (width + 1) // 2), generator)
    noise = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    noise = noise / noise.std().clamp_min(1e-6)
    tone = 0.6 + 1.6 * frames.clamp(0, 1) * (1 - frames.clamp(0, 1))  # 1 at mid grey, 0.6 at black and white
    return frames + 5.0 / 255.0 * strength * tone * noise


def _dust(frames: Tensor, strength: float, scale: float, generator: torch.Generator) -> Tensor:
    """Specks of dust, each on one frame: soft discs, dark or bright."""
    count, _, height, width = frames.shape
    area = height * width / (_REFERENCE_HEIGHT * _REFERENCE_HEIGHT * 16 / 9)
    ys = torch.arange(height, dtype=torch.float32).view(height, 1)
    xs = torch.arange(width, dtype=torch.float32).view(1, width)
    out = frames.clone()
    for t in range(count):
        specks = int(torch.poisson(torch.tensor([6.0 * strength * area]), generator=generator).item())
        params = _uniform((specks, 5), generator)
        for cy, cx, radius, shade, opacity in params.tolist():
            r = (0.5 + 2.5 * radius) * scale
            y, x = cy * height, cx * width
            top, bottom = max(0, int(y - r - 2)), min(height, int(y + r + 3))
            left, right = max(0, int(x - r - 2)), min(width, int(x + r + 3))
            if top >= bottom or left >= right:
                continue
            dist = ((ys[top:bottom] - y) ** 2 + (xs[:, left:right] - x) ** 2).sqrt()
            mask = (r - dist + 0.5).clamp(0, 1) * (0.6 + 0.4 * opacity)
            value = 0.05 if shade < 0.5 else 0.95
            patch = out[t, 0, top:bottom, left:right]
            out[t, 0, top:bottom, left:right] = patch + mask * (value - patch)
    return out


def _scratches(frames: Tensor, strength: float, scale: float, generator: torch.Generator) -> Tensor:
    """ceil(strength) vertical scratches through the shot, each wandering slowly and flickering in contrast."""
    count, _, height, width = frames.shape
    xs = torch.arange(width, dtype=torch.float32).view(1, width)
    out = frames.clone()
    for _ in range(math.ceil(strength)):
        x = float(_uniform((1,), generator)) * width
        half_width = (0.5 + float(_uniform((1,), generator))) * scale
        sign = 1.0 if float(_uniform((1,), generator)) < 0.5 else -1.0
        for t in range(count):
            x = min(width - 1.0, max(0.0, x + 0.3 * scale * float(_normal((1,), generator))))
            contrast = 0.12 * min(strength, 1.0) * (0.5 + float(_uniform((1,), generator)))
            profile = (half_width - (xs - x).abs() + 0.5).clamp(0, 1)  # (1, W)
            out[t, 0] = out[t, 0] + sign * contrast * profile
    return out


def _jpeg(frames: Tensor, quality: int) -> Tensor:
    """Each 8-bit frame (values 0..255) through JPEG at ``quality``."""
    out = []
    for frame in frames[:, 0].to(torch.uint8).numpy():
        ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise DegradationError("JPEG encoding of a degraded frame failed")
        decoded = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
        if decoded is None:
            raise DegradationError("JPEG decoding of a degraded frame failed")
        out.append(torch.from_numpy(decoded.astype(np.float32)))
    return torch.stack(out)[:, None]
