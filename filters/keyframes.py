"""Keyframe sources: a colour clip, or a mapping ``{frame: image path, RGB array or frame}``.

Both give the keyframe positions, ``read_key(n)`` (full-resolution chroma (2,H,W) in the working
matrix) and a ``fingerprint`` that identifies the same keyframes given twice (pipelines built on
equal keyframes share their state). A colour clip also answers ``key_at(n)``: a scene change at
frame n inside it takes its keyframe from frame n of the keyframe clip.

A mapping's keyframes are read when it is given, and held as chroma (float32, 8 bytes a pixel);
one with (almost) no colour is logged as a warning through VapourSynth, since its shot would come
out grey.
"""

from __future__ import annotations

import hashlib
import operator
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import vapoursynth as vs

from dvcp_plugin.errors import FilterError

from .convert import array_chroma, check_clip, frame_chroma, to_444
from .images import ImageError, read_image


class Keyframes:
    """Keyframe positions and their chroma; build with :func:`make_keyframes`."""

    def __init__(
        self,
        positions: Iterable[int],
        read_key: Callable[[int], torch.Tensor],
        fingerprint: tuple[Any, ...],
        key_at: Callable[[int], bool] | None = None,
        holds: object = None,
    ) -> None:
        self.positions = sorted(set(positions))
        self.read_key, self.key_at, self.fingerprint = read_key, key_at, fingerprint
        self._holds = holds  # keeps what the fingerprint's ids refer to alive


def _frame_numbers(frames: Iterable[Any], num_frames: int, what: str) -> list[int]:
    """``frames`` as frame numbers of a clip of ``num_frames`` frames; anything else is a FilterError."""
    positions = []
    for frame in frames:
        try:
            n = operator.index(frame)
        except TypeError:
            raise FilterError(f"{what} {frame!r} is not a frame number") from None
        if not 0 <= n < num_frames:
            raise FilterError(
                f"keyframe at frame {n} is out of range: the clip has {num_frames} frames (0-{num_frames - 1})"
            )
        positions.append(n)
    return positions


def _positions(frames: Iterable[Any], num_frames: int, what: str) -> list[int]:
    positions = _frame_numbers(frames, num_frames, what)
    if not positions:
        raise FilterError("no keyframes were given; give at least one")
    return positions


def key_positions(
    keys: Any, clip: vs.VideoNode, frames: Iterable[int] | None
) -> tuple[list[int], Callable[[int], bool] | None]:
    """Where keyframes are, without reading them: (positions, ``key_at`` of a keyframe clip or None).

    ``keys`` is a mapping, a keyframe clip (keyframes at ``frames``, default [0]) or None (none).
    Unlike :func:`make_keyframes`, no keyframe at all is no error: this is for listing.
    """
    if keys is None:
        if frames is not None:
            raise FilterError("keyframe_frames is for a keyframe clip; no keyframes were given")
        return [], None
    if isinstance(keys, vs.VideoNode):
        length = keys.num_frames
        return _frame_numbers([0] if frames is None else frames, clip.num_frames, "keyframe_frames entry"), (
            lambda n: n < length
        )
    if isinstance(keys, Mapping):
        if frames is not None:
            raise FilterError("keyframe_frames is for a keyframe clip; a mapping gives the frames as its keys")
        return _frame_numbers(keys.keys(), clip.num_frames, "keyframe key"), None
    raise FilterError(f"keyframes must be a colour clip, a mapping {{frame: image}} or None, not {type(keys).__name__}")


def _check_size(width: int, height: int, clip: vs.VideoNode, what: str) -> None:
    if (width, height) != (clip.width, clip.height):
        raise FilterError(
            f"{what} is {width}x{height} but the clip is {clip.width}x{clip.height}; the sizes must match"
        )


def clip_keyframes(keys: Any, clip: vs.VideoNode, frames: Iterable[int] | None, matrix: str) -> Keyframes:
    """Keyframes from a colour clip of the same size; ``frames`` are the keyframe positions ([0])."""
    check_clip(keys, "the keyframe clip")
    if keys.format.color_family not in (vs.RGB, vs.YUV):
        raise FilterError(f"the keyframe clip is {keys.format.name}; keyframes must be in colour (RGB or YUV)")
    _check_size(keys.width, keys.height, clip, "the keyframe clip")
    positions = _positions([0] if frames is None else frames, clip.num_frames, "keyframe_frames entry")
    beyond = [n for n in positions if n >= keys.num_frames]
    if beyond:
        raise FilterError(
            f"keyframe at frame {beyond[0]} is out of range: the keyframe clip has {keys.num_frames} frames"
        )
    full = to_444(keys)

    def read_key(n: int) -> torch.Tensor:
        return frame_chroma(full.get_frame(n), matrix)

    def key_at(n: int) -> bool:
        return n < full.num_frames

    return Keyframes(positions, read_key, ("clip", id(keys), tuple(positions)), key_at, holds=keys)


def _digest(*arrays: np.ndarray) -> str:
    digest = hashlib.sha1()
    for array in arrays:
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


GREY_CHROMA = 2 / 255  # chroma within this of grey looks grey
GREY_SHARE = 0.999  # a keyframe whose pixels are this share grey has (almost) no colour


def _warn_if_grey(chroma: torch.Tensor, what: str) -> None:
    """Log a warning when (almost) every pixel of ``chroma`` (2,H,W) is grey."""
    grey = float((chroma.abs().amax(dim=0) <= GREY_CHROMA).float().mean())
    if grey >= GREY_SHARE:
        vs.core.log_message(
            vs.MESSAGE_TYPE_WARNING,
            f"dvcp: {what} has (almost) no colour ({grey:.1%} of its pixels are grey); "
            "its shot will come out grey. Is it the hand-coloured frame?",
        )


def _frame_444(frame: vs.VideoFrame) -> vs.VideoFrame:
    """A subsampled YUV frame at full chroma resolution, resized as a keyframe clip is (:func:`to_444`)."""
    fmt = frame.format
    if fmt.color_family != vs.YUV or not (fmt.subsampling_w or fmt.subsampling_h):
        return frame
    blank = vs.core.std.BlankClip(format=fmt.id, width=frame.width, height=frame.height, length=1, keep=True)
    return to_444(vs.core.std.ModifyFrame(blank, blank, lambda n, f: frame)).get_frame(0)


def _one_key(n: int, value: Any, clip: vs.VideoNode, matrix: str) -> tuple[torch.Tensor, tuple[Any, ...]]:
    what = f"the keyframe for frame {n}"
    if isinstance(value, (str, os.PathLike)):
        path = Path(value)
        try:
            image = read_image(path)
        except ImageError as exc:
            raise FilterError(f"{what}: {exc}") from None
        stat = path.stat()
        ident: tuple[Any, ...] = ("path", str(path.resolve()), stat.st_mtime_ns, stat.st_size)
        what = f"keyframe image {path}"
    elif isinstance(value, np.ndarray):
        image, ident = value, ("array", _digest(value))
    elif isinstance(value, vs.VideoFrame):
        _check_size(value.width, value.height, clip, what)
        if value.format.color_family not in (vs.RGB, vs.YUV):
            raise FilterError(f"{what} is a {value.format.name} frame; a keyframe must be in colour (RGB or YUV)")
        planes = [np.asarray(value[i]) for i in range(value.format.num_planes)]
        tags = (value.format.id, value.props.get("_Matrix"), value.props.get("_Range"))
        chroma = frame_chroma(_frame_444(value), matrix)
        _warn_if_grey(chroma, what)
        return chroma, ("frame", _digest(*planes), tags)
    else:
        raise FilterError(f"{what} is a {type(value).__name__}; give an image path, an RGB array or a frame")
    if image.ndim == 2:
        raise FilterError(f"{what} is grey; a keyframe must be a colour (RGB) image")
    if image.ndim == 3:
        _check_size(image.shape[1], image.shape[0], clip, what)
    chroma = array_chroma(image, matrix, what)
    _warn_if_grey(chroma, what)
    return chroma, ident


def mapping_keyframes(keys: Mapping[Any, Any], clip: vs.VideoNode, matrix: str) -> Keyframes:
    """Keyframes from ``{frame: image path, RGB array (H,W,3) or vs.VideoFrame}``, all read now."""
    positions = _positions(keys.keys(), clip.num_frames, "keyframe key")
    chroma: dict[int, torch.Tensor] = {}
    idents = []
    for n, value in sorted(zip(positions, keys.values(), strict=True)):
        chroma[n], ident = _one_key(n, value, clip, matrix)
        idents.append((n, ident))
    return Keyframes(positions, chroma.__getitem__, ("mapping", tuple(idents)))


def make_keyframes(keys: Any, clip: vs.VideoNode, frames: Iterable[int] | None, matrix: str) -> Keyframes:
    """Keyframes from a clip or a mapping (see the module doc); errors are :class:`FilterError`."""
    if isinstance(keys, vs.VideoNode):
        return clip_keyframes(keys, clip, frames, matrix)
    if isinstance(keys, Mapping):
        if frames is not None:
            raise FilterError("keyframe_frames is for a keyframe clip; a mapping gives the frames as its keys")
        return mapping_keyframes(keys, clip, matrix)
    raise FilterError(
        f"keyframes must be a colour clip or a mapping {{frame: image path or array}}, not {type(keys).__name__}"
    )
