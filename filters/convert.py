"""Frame <-> tensor conversion: luma in, chroma of colour frames in, output frames out.

Conventions (the models' colour space, see :mod:`dvcp_plugin.models.color`): luma in [0, 1],
chroma zero-centred Cb, Cr in [-0.5, 0.5], full-range Y'CbCr of the working matrix ("601" or
"709").

* Luma of an input frame: the Y plane (GRAY: its plane; RGB: Kr·R + Kg·G + Kb·B of the working
  matrix). Integer samples are normalised with the frame's range (see :func:`frame_range`);
  without one YUV is limited and GRAY/RGB full. Float samples are used as they are.
* Output YUV: Y is the input's luma, bit-exact. Same depth: copied. Integer to deeper integer:
  limited range is shifted left by the depth difference, full range is scaled by
  (2^out-1)/(2^in-1) and rounded (×257 for 8 to 16 bit); both are exact and reversible. Integer
  to float: ``v/(2^b-1)`` (full) or ``(v/2^(b-8) - 16)/219`` (limited), in float64 then float32.
  Chroma is rounded into the output's range (limited: 16..240 scaled; full: 0..2^b-1, neutral
  2^(b-1)) or written as zero-centred float.
* Output RGB: made from (input luma, chroma) with the working matrix, full range.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import vapoursynth as vs

from dvcp_plugin.models.color import MATRICES, luma_chroma_to_rgb, rgb_to_luma_chroma

from .errors import FilterError

WORKING_MATRICES = tuple(MATRICES)
# frame _Matrix values that name a working matrix (5 and 6 are both BT.601)
FRAME_MATRICES: dict[int, str] = {vs.MATRIX_BT709: "709", vs.MATRIX_BT470_BG: "601", vs.MATRIX_ST170_M: "601"}
MATRIX_CODES: dict[str, int] = {"601": vs.MATRIX_ST170_M, "709": vs.MATRIX_BT709}
PRIMARIES_TRANSFER: dict[str, tuple[int, int]] = {
    "601": (vs.PRIMARIES_ST170_M, vs.TRANSFER_BT601),
    "709": (vs.PRIMARIES_BT709, vs.TRANSFER_BT709),
}
CONFIDENCE_PROP = "DvcpConfidence"
FLOAT_SLACK = 1e-3  # float RGB keyframes may overshoot [0, 1] by rounding this much (then clamped)


def check_clip(clip: Any, what: str) -> vs.VideoNode:
    """``clip`` as a constant-format, constant-size clip of 8-16 bit integer or float samples."""
    if not isinstance(clip, vs.VideoNode):
        raise FilterError(f"{what} must be a vs.VideoNode, not {type(clip).__name__}")
    fmt = clip.format
    if fmt is None or fmt.id == vs.NONE:
        raise FilterError(f"{what} has a variable format; convert it to one format first (e.g. resize)")
    if clip.width == 0 or clip.height == 0:
        raise FilterError(f"{what} has a variable frame size; resize it to one size first")
    if fmt.color_family not in (vs.GRAY, vs.YUV, vs.RGB):
        raise FilterError(f"{what} has format {fmt.name}; use a GRAY, YUV or RGB format")
    if fmt.sample_type == vs.INTEGER and not 8 <= fmt.bits_per_sample <= 16:
        raise FilterError(f"{what} has {fmt.bits_per_sample}-bit samples; integer input must be 8 to 16 bit")
    return clip


def to_444(clip: vs.VideoNode) -> vs.VideoNode:
    """``clip`` with its chroma at full resolution: subsampled YUV is resized (Bicubic), others kept."""
    fmt = clip.format
    if fmt.color_family == vs.YUV and (fmt.subsampling_w or fmt.subsampling_h):
        return clip.resize.Bicubic(format=fmt.replace(subsampling_w=0, subsampling_h=0))
    return clip


def frame_range(frame: vs.VideoFrame) -> int:
    """The frame's range as ``vs.RANGE_FULL``/``vs.RANGE_LIMITED``.

    From ``_Range`` (API 4.2 values: 1 full, 0 limited), else the legacy ``_ColorRange`` (0 full,
    1 limited), else limited for YUV and full for GRAY and RGB.
    """
    props = frame.props
    if props.get("_Range") in (vs.RANGE_FULL, vs.RANGE_LIMITED):
        return vs.RANGE_FULL if props["_Range"] == vs.RANGE_FULL else vs.RANGE_LIMITED
    if props.get("_ColorRange") in (0, 1):
        return vs.RANGE_FULL if props["_ColorRange"] == 0 else vs.RANGE_LIMITED
    return vs.RANGE_LIMITED if frame.format.color_family == vs.YUV else vs.RANGE_FULL


def normalise(plane: np.ndarray, fmt: vs.VideoFormat, rng: int, chroma: bool = False) -> np.ndarray:
    """Samples -> float64 luma in [0,1] or zero-centred chroma (unclamped); float is kept as is."""
    if fmt.sample_type == vs.FLOAT:
        return plane.astype(np.float64)
    bits = fmt.bits_per_sample
    if rng == vs.RANGE_FULL:
        peak = float(2**bits - 1)
        return (plane - 2 ** (bits - 1)) / peak if chroma else plane / peak
    scale = float(2 ** (bits - 8))
    return (plane / scale - 128.0) / 224.0 if chroma else (plane / scale - 16.0) / 219.0


def _to_samples(values: np.ndarray, fmt: vs.VideoFormat, rng: int, chroma: bool) -> np.ndarray:
    """Float luma/chroma -> samples of ``fmt`` (rounded and clipped for integer formats)."""
    if fmt.sample_type == vs.FLOAT:
        return values.astype(np.float32)
    bits = fmt.bits_per_sample
    if rng == vs.RANGE_FULL:
        peak = 2**bits - 1
        samples = values * peak + (2 ** (bits - 1) if chroma else 0)
    else:
        scale = 2 ** (bits - 8)
        samples = (values * 224.0 + 128.0) * scale if chroma else (values * 219.0 + 16.0) * scale
    return np.clip(np.rint(samples), 0, 2**bits - 1)


def rgb_to_chroma(rgb: np.ndarray, matrix: str) -> torch.Tensor:
    """RGB (3,H,W) in [0,1] -> chroma (2,H,W) float32 of ``matrix``."""
    tensor = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).clamp(0.0, 1.0)
    return rgb_to_luma_chroma(tensor[None], matrix)[1][0]


def frame_chroma(frame: vs.VideoFrame, matrix: str) -> torch.Tensor:
    """Chroma (2,H,W) of an RGB or YUV444 colour frame, in the working ``matrix``.

    YUV frames tagged with another working matrix are re-encoded through RGB; untagged ones
    (no ``_Matrix`` or 2, unspecified) are taken to be in ``matrix`` already.
    """
    fmt = frame.format
    if fmt.color_family == vs.RGB:
        rgb = np.stack([normalise(np.asarray(frame[i]), fmt, vs.RANGE_FULL) for i in range(3)])
        return rgb_to_chroma(rgb, matrix)
    if fmt.color_family != vs.YUV or fmt.subsampling_w or fmt.subsampling_h:
        raise FilterError(f"a colour frame must be RGB or YUV444, not {fmt.name}")
    rng = frame_range(frame)
    chroma = np.stack([normalise(np.asarray(frame[i]), fmt, rng, chroma=True) for i in (1, 2)])
    tag = int(frame.props.get("_Matrix", vs.MATRIX_UNSPECIFIED))
    if tag == vs.MATRIX_UNSPECIFIED:
        source = matrix
    elif tag in FRAME_MATRICES:
        source = FRAME_MATRICES[tag]
    else:
        raise FilterError(f"colour frame has _Matrix={tag}; only BT.601 (5, 6) and BT.709 (1) are read")
    result = torch.from_numpy(chroma.astype(np.float32))
    if source != matrix:
        luma = torch.from_numpy(normalise(np.asarray(frame[0]), fmt, rng).astype(np.float32))
        rgb = luma_chroma_to_rgb(luma[None, None].clamp(0, 1), result[None], source)
        result = rgb_to_luma_chroma(rgb, matrix)[1][0]
    return result


def array_chroma(image: np.ndarray, matrix: str, what: str) -> torch.Tensor:
    """Chroma (2,H,W) of an RGB image array: uint8, uint16 or float in [0,1], shaped (H,W,3)."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise FilterError(f"{what} has shape {image.shape}; a keyframe must be an RGB colour image (H, W, 3)")
    if image.dtype == np.uint8 or image.dtype == np.uint16:
        rgb = image.astype(np.float64) / np.iinfo(image.dtype).max
    elif np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all():
            raise FilterError(f"{what} holds NaN or infinite values")
        low, high = float(image.min()), float(image.max())
        if low < -FLOAT_SLACK or high > 1 + FLOAT_SLACK:
            raise FilterError(
                f"{what} holds float values from {low:g} to {high:g}; a float keyframe must be in [0, 1] "
                "(divide 8-bit values by 255, or pass the uint8 array)"
            )
        rgb = image.astype(np.float64)
    else:
        raise FilterError(f"{what} has {image.dtype} samples; use uint8, uint16 or float in [0, 1]")
    return rgb_to_chroma(rgb.transpose(2, 0, 1), matrix)


class LumaReader:
    """The luma of input frames as a tensor for the engine (clamped to [0,1])."""

    def __init__(self, fmt: vs.VideoFormat, matrix: str) -> None:
        self.format, self.matrix = fmt, matrix

    def exact(self, frame: vs.VideoFrame) -> np.ndarray:
        """Normalised luma (H,W) float64, unclamped (limited-range excursions kept)."""
        fmt = self.format
        if fmt.color_family == vs.RGB:
            kr, kb = MATRICES[self.matrix]
            r, g, b = (normalise(np.asarray(frame[i]), fmt, vs.RANGE_FULL) for i in range(3))
            return kr * r + (1.0 - kr - kb) * g + kb * b
        return normalise(np.asarray(frame[0]), fmt, frame_range(frame))

    def __call__(self, frame: vs.VideoFrame) -> torch.Tensor:
        """Luma (H,W) float32 in [0,1]."""
        return torch.from_numpy(np.clip(self.exact(frame), 0.0, 1.0).astype(np.float32))


def output_format(requested: Any, source: vs.VideoFormat) -> vs.VideoFormat:
    """The output format: ``requested`` (a format, preset or id) or the default for ``source``.

    Default: YUV444P16 for integer input, YUV444PS for float input. Accepted: YUV444 at least as
    deep as an integer YUV/GRAY input (float YUV444PS always), RGB 8-16 bit or RGBS.
    """
    if requested is None:
        requested = vs.YUV444PS if source.sample_type == vs.FLOAT else vs.YUV444P16
    try:
        fmt = vs.core.get_video_format(requested.id if isinstance(requested, vs.VideoFormat) else int(requested))
    except (vs.Error, TypeError, ValueError) as exc:
        raise FilterError(f"format={requested!r} is not a VapourSynth video format") from exc
    integer = fmt.sample_type == vs.INTEGER
    if fmt.color_family == vs.RGB:
        ok = (integer and 8 <= fmt.bits_per_sample <= 16) or fmt.bits_per_sample == 32
    else:
        ok = fmt.color_family == vs.YUV and not (fmt.subsampling_w or fmt.subsampling_h) and (
            (integer and 8 <= fmt.bits_per_sample <= 16) or fmt.bits_per_sample == 32
        )
    if not ok:
        raise FilterError(
            f"format {fmt.name} is not an output format; use YUV444P16, YUV444PS, RGB24, RGB48 or RGBS"
        )
    if fmt.color_family == vs.YUV and integer and source.color_family != vs.RGB:
        if source.sample_type == vs.FLOAT:
            raise FilterError(f"format {fmt.name} cannot keep float luma bit-exactly; use YUV444PS or RGB")
        if fmt.bits_per_sample < source.bits_per_sample:
            raise FilterError(
                f"format {fmt.name} is shallower than the {source.bits_per_sample}-bit input luma; "
                f"use YUV444P{max(16, source.bits_per_sample)} or YUV444PS"
            )
    return fmt


class OutputWriter:
    """Writes output frames: the input's luma, the given chroma, and the colour properties."""

    def __init__(self, source: vs.VideoFormat, out: vs.VideoFormat, matrix: str) -> None:
        self.source, self.format, self.matrix = source, out, matrix
        self.luma = LumaReader(source, matrix)

    def _output_range(self, frame: vs.VideoFrame) -> int:
        if self.format.sample_type == vs.FLOAT or self.format.color_family == vs.RGB:
            return vs.RANGE_FULL
        if self.source.color_family == vs.RGB or self.source.sample_type == vs.FLOAT:
            return vs.RANGE_FULL
        return frame_range(frame)

    def output_luma(self, frame: vs.VideoFrame) -> np.ndarray:
        """The Y plane of the output: the input's luma, bit-exact (see the module doc)."""
        src, out = self.source, self.format
        if src.color_family == vs.RGB:
            return _to_samples(self.luma.exact(frame), out, vs.RANGE_FULL, chroma=False)
        plane = np.asarray(frame[0])
        if out.sample_type == vs.FLOAT:
            if src.sample_type == vs.FLOAT:
                return plane.astype(np.float32)
            return normalise(plane, src, frame_range(frame)).astype(np.float32)
        shift = out.bits_per_sample - src.bits_per_sample
        if shift == 0:
            return plane
        wide = plane.astype(np.int64)
        if frame_range(frame) == vs.RANGE_LIMITED:
            return wide << shift
        src_peak, out_peak = 2**src.bits_per_sample - 1, 2**out.bits_per_sample - 1
        return (2 * wide * out_peak + src_peak) // (2 * src_peak)

    def write(
        self,
        blank: vs.VideoFrame,
        source: vs.VideoFrame,
        chroma: torch.Tensor,
        confidence: tuple[vs.VideoFrame, torch.Tensor] | None = None,
    ) -> vs.VideoFrame:
        """A new output frame from a ``blank`` frame of the output format and the ``source`` frame.

        ``confidence`` (a blank GRAYS frame and an (H,W) map) is attached as the frame property
        ``DvcpConfidence``.
        """
        out = blank.copy()
        fmt, rng = self.format, self._output_range(source)
        values = chroma.detach().float().cpu().numpy().astype(np.float64)
        if fmt.color_family == vs.YUV:
            np.asarray(out[0])[...] = self.output_luma(source)
            for i in (1, 2):
                np.asarray(out[i])[...] = _to_samples(values[i - 1], fmt, rng, chroma=True)
        else:
            luma = torch.from_numpy(np.clip(self.luma.exact(source), 0, 1).astype(np.float32))
            rgb = luma_chroma_to_rgb(luma[None, None], torch.from_numpy(values.astype(np.float32))[None], self.matrix)
            for i in range(3):
                np.asarray(out[i])[...] = _to_samples(rgb[0, i].numpy().astype(np.float64), fmt, rng, chroma=False)
        props = out.props
        props.clear()
        props.update(_carried(source.props))
        self._set_colour_props(props, source.props, rng)
        if confidence is not None:
            conf_frame = confidence[0].copy()
            np.asarray(conf_frame[0])[...] = confidence[1].float().cpu().numpy()
            props[CONFIDENCE_PROP] = conf_frame
        return out

    def _set_colour_props(self, props: Any, source: Mapping[str, Any], rng: int) -> None:
        primaries, transfer = PRIMARIES_TRANSFER[self.matrix]
        if source.get("_Primaries", vs.PRIMARIES_UNSPECIFIED) == vs.PRIMARIES_UNSPECIFIED:
            props["_Primaries"] = primaries
        if source.get("_Transfer", vs.TRANSFER_UNSPECIFIED) == vs.TRANSFER_UNSPECIFIED:
            props["_Transfer"] = transfer
        props["_Matrix"] = MATRIX_CODES[self.matrix] if self.format.color_family == vs.YUV else vs.MATRIX_RGB
        props["_Range"] = rng


_NOT_CARRIED = ("_ChromaLocation", "_ColorRange", CONFIDENCE_PROP)


def _carried(props: Mapping[str, Any]) -> dict[str, Any]:
    """Input properties that stay true of the output (chroma siting, the legacy range and confidence do not)."""
    return {key: value for key, value in props.items() if key not in _NOT_CARRIED}
