"""A procedural sample shot: textured, coloured objects moving over a panning, textured background.

Made from a seed alone (nothing is downloaded), so ``dvcp demo`` runs on a fresh machine. The
objects cross and occlude each other and the background pans, so colour has to follow motion and
come back after disocclusion.
"""

from __future__ import annotations

import cv2
import numpy as np

# (centre x, centre y at frame 0 as fractions of the frame; velocity in pixels per frame; radii as
# fractions of the height; RGB colour; stripe period in pixels; spin in degrees per frame)
_OBJECTS = (
    ((0.18, 0.55), (4.0, -0.6), (0.22, 0.22), (200, 40, 35), 9.0, 0.0),
    ((0.80, 0.40), (-3.2, 0.8), (0.26, 0.16), (235, 200, 40), 7.0, 3.0),
    ((0.45, 0.22), (1.2, 1.4), (0.16, 0.12), (120, 60, 190), 5.0, -2.0),
)
_SUBPIXEL = 4  # cv2 drawing shift: positions in 1/16 pixel


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    """Band-limited noise in [0,1]: random values on a coarse grid, upsampled smoothly."""
    coarse = rng.random((height // cell + 2, width // cell + 2)).astype(np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC).clip(0.0, 1.0)


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A sky-to-meadow gradient with cloud and grass texture, float RGB in [0,1], (H,W,3)."""
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    sky = np.array([0.35, 0.55, 0.85], np.float32) * (1 - y) + np.array([0.75, 0.85, 0.95], np.float32) * y
    meadow = np.array([0.25, 0.55, 0.20], np.float32) * (1 - y) + np.array([0.45, 0.35, 0.15], np.float32) * y
    horizon = (y > 0.6).astype(np.float32)
    base = sky * (1 - horizon) + meadow * horizon
    texture = 0.6 * _smooth_noise(rng, height, width, 24) + 0.4 * _smooth_noise(rng, height, width, 6)
    return (base * (0.7 + 0.6 * texture[:, :, None])).clip(0.0, 1.0)


def make_shot(frames: int = 24, height: int = 192, width: int = 320, seed: int = 0) -> np.ndarray:
    """The sample shot as uint8 RGB frames, shaped (frames, height, width, 3)."""
    if frames < 1 or height < 16 or width < 16:
        raise ValueError(f"a demo shot needs at least 1 frame of 16x16, not {frames} of {width}x{height}")
    rng = np.random.default_rng(seed)
    pan = 2  # background pixels per frame
    scene = _background(rng, height, width + pan * frames)
    shading = _smooth_noise(rng, height * 2, height * 2, 8)  # object-attached texture, larger than any object
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    shot = np.empty((frames, height, width, 3), np.uint8)
    for k in range(frames):
        image = scene[:, pan * k : pan * k + width].copy()
        for (fx, fy), (vx, vy), (rx, ry), colour, period, spin in _OBJECTS:
            cx, cy = fx * width + vx * k, fy * height + vy * k
            axes = (rx * height, ry * height)
            angle = spin * k
            mask = np.zeros((height, width), np.float32)
            cv2.ellipse(
                mask, (round(cx * 2**_SUBPIXEL), round(cy * 2**_SUBPIXEL)),
                (round(axes[0] * 2**_SUBPIXEL), round(axes[1] * 2**_SUBPIXEL)), angle, 0, 360, 1.0,
                thickness=-1, lineType=cv2.LINE_AA, shift=_SUBPIXEL,
            )
            theta = np.deg2rad(angle)
            u = (xx - cx) * np.cos(theta) + (yy - cy) * np.sin(theta)  # object coordinates: the texture moves with it
            v = -(xx - cx) * np.sin(theta) + (yy - cy) * np.cos(theta)
            stripes = 0.5 + 0.5 * np.sin(2 * np.pi * u / period)
            spots = shading[
                np.clip((v + height).astype(int), 0, 2 * height - 1),
                np.clip((u + height).astype(int), 0, 2 * height - 1),
            ]
            texture = 0.6 + 0.25 * stripes + 0.3 * spots
            paint = (np.array(colour, np.float32) / 255.0) * texture[:, :, None]
            image = image * (1 - mask[:, :, None]) + paint.clip(0.0, 1.0) * mask[:, :, None]
        shot[k] = np.rint(image * 255.0).clip(0, 255).astype(np.uint8)
    return shot
