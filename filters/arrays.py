"""A clip whose frames are numpy image arrays: frame folders, generated shots, keyframe images."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import numpy as np
import vapoursynth as vs

from .frame_errors import FrameErrors
from .images import ImageError


def image_kind(image: np.ndarray) -> str:
    """"8-bit grey", "16-bit colour", ...: the depth and kind of a uint8/uint16 image array."""
    return f"{8 * image.itemsize}-bit {'colour' if image.ndim == 3 else 'grey'}"


def array_clip(
    read: Callable[[int], np.ndarray], length: int, first: np.ndarray, fps: Fraction, name: Callable[[int], str],
    errors: FrameErrors | None = None,
) -> vs.VideoNode:
    """A clip of ``length`` frames whose frame n is ``read(n)``; all must match ``first``'s shape and depth.

    ``first`` is a uint8/uint16 (H,W) grey or (H,W,3) RGB array; the clip is GRAY8/16 or RGB24/48,
    full range; ``name(n)`` names frame n in errors. A frame that cannot be read (an
    :class:`ImageError`) fails with its message alone; whatever ``read`` raises is kept in ``errors``.
    """
    height, width = first.shape[:2]
    family = vs.RGB if first.ndim == 3 else vs.GRAY
    fmt = vs.core.query_video_format(family, vs.INTEGER, 8 * first.itemsize, 0, 0)
    blank = vs.core.std.BlankClip(
        width=width, height=height, format=fmt.id, length=length, fpsnum=fps.numerator, fpsden=fps.denominator,
        keep=True,
    )
    expected = (first.shape, first.dtype)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        try:
            image = read(n)
            if (image.shape, image.dtype) != expected:
                raise ImageError(
                    f"{name(n)} is a {image.shape[1]}x{image.shape[0]} {image_kind(image)} image but the first frame "
                    f"is {width}x{height} {image_kind(first)}; every frame of a sequence must have the same size "
                    "and kind"
                )
        except Exception as exc:
            if errors is not None:
                errors.record(n, exc)
            if isinstance(exc, ImageError):
                raise vs.Error(str(exc)) from None
            raise
        out = f.copy()
        planes = [image] if image.ndim == 2 else [image[:, :, i] for i in range(3)]
        for i, plane in enumerate(planes):
            np.asarray(out[i])[...] = plane
        out.props["_Range"] = vs.RANGE_FULL
        if family == vs.RGB:
            out.props["_Matrix"] = vs.MATRIX_RGB
        return out

    return vs.core.std.ModifyFrame(blank, blank, fill)
