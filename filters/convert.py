"""Frame <-> tensor conversion: luma in, chroma of colour frames in, output frames out.

Conventions (the models' colour space, see :mod:`dvcp_plugin.models.color`): luma in [0, 1],
chroma zero-centred Cb, Cr in [-0.5, 0.5], full-range Y'CbCr of the working matrix ("601" or
"709").

All arithmetic is float32. Planes are read where they lie (``np.asarray(frame[p])``, no copy) and
results are written straight into the planes of the output frame.

* Luma of an input frame: the Y plane (GRAY: its plane; RGB: Kr·R + Kg·G + Kb·B of the working
  matrix). Integer samples are normalised with the frame's range (see :func:`frame_range`);
  without one YUV is limited and GRAY/RGB full. Float samples are used as they are. Integer
  samples are normalised by one correctly rounded float32 division, ``v/(2^b-1)`` (full) or
  ``(v - 16·2^(b-8)) / (219·2^(b-8))`` (limited; chroma: 128 and 224), so each value is the exact
  quotient rounded to float32.
* Output YUV: Y is the input's luma, bit-exact. Same depth: copied. Integer to deeper integer:
  limited range is shifted left by the depth difference, full range is scaled by
  (2^out-1)/(2^in-1) and rounded (×257 for 8 to 16 bit); both are exact and reversible. Integer
  to float: the normalised value above. Chroma is rounded into the output's range (limited:
  16..240 scaled; full: 0..2^b-1, neutral 2^(b-1)) or written as zero-centred float. Rounding is
  that of the exact value (half to even): samples that float32 leaves within 2^-7 of a rounding
  boundary are recomputed in float64.
* Output RGB: made from (input luma, chroma) with the working matrix, full range.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import vapoursynth as vs

from dvcp_plugin.errors import FilterError
from dvcp_plugin.models.color import FRAME_MATRICES, MATRICES, luma_chroma_to_rgb, rgb_to_luma_chroma

WORKING_MATRICES = tuple(MATRICES)
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


def normalise(
    plane: np.ndarray, fmt: vs.VideoFormat, rng: int, chroma: bool = False, out: np.ndarray | None = None
) -> np.ndarray:
    """Samples -> float32 luma in [0,1] or zero-centred chroma (unclamped), into ``out`` if given.

    Float samples are copied as they are; integer ones are normalised exactly (see the module doc).
    """
    if fmt.sample_type == vs.FLOAT:
        if out is None:
            return np.array(plane, dtype=np.float32)
        np.copyto(out, plane)
        return out
    offset, divisor = _sample_scale(fmt, rng, chroma)
    values = np.subtract(plane, np.float32(offset), out=out, dtype=np.float32)
    return np.divide(values, np.float32(divisor), out=values)


def _sample_scale(fmt: vs.VideoFormat, rng: int, chroma: bool) -> tuple[int, int]:
    """(offset, divisor) of integer samples: value = (sample - offset) / divisor."""
    bits = fmt.bits_per_sample
    if rng == vs.RANGE_FULL:
        return (2 ** (bits - 1) if chroma else 0), 2**bits - 1
    scale = 2 ** (bits - 8)
    return (128 if chroma else 16) * scale, (224 if chroma else 219) * scale


def _rounded(values: torch.Tensor, divisor: int, offset: int) -> torch.Tensor:
    """``values · divisor + offset`` rounded half to even as the exact value would be, float32.

    Float32 keeps the result of samples below 2^16 within 2^-8 of the exact value; the samples
    it leaves within 2^-7 of a rounding boundary are recomputed in float64.
    """
    samples = values * divisor
    samples += offset
    rounded = samples.round()
    near = samples.sub_(rounded).abs_() > 0.5 - 2**-7
    if bool(near.any()):
        rounded[near] = (values[near].double() * divisor + offset).round().float()
    return rounded


def _write_plane(plane: np.ndarray, values: torch.Tensor, fmt: vs.VideoFormat, rng: int, chroma: bool) -> None:
    """Float luma/chroma (H,W), on any device, into ``plane`` (a plane of an output frame) as samples of ``fmt``."""
    target = torch.from_numpy(plane)
    if fmt.sample_type == vs.FLOAT:
        target.copy_(values)
        return
    offset, divisor = _sample_scale(fmt, rng, chroma)
    target.copy_(_rounded(values.float(), divisor, offset).clamp_(0, 2**fmt.bits_per_sample - 1))


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
    result = torch.from_numpy(chroma)
    if source != matrix:
        luma = torch.from_numpy(normalise(np.asarray(frame[0]), fmt, rng))
        rgb_tensor = luma_chroma_to_rgb(luma[None, None].clamp(0, 1), result[None], source)
        result = rgb_to_luma_chroma(rgb_tensor, matrix)[1][0]
    return result


def array_chroma(image: np.ndarray, matrix: str, what: str) -> torch.Tensor:
    """Chroma (2,H,W) of an RGB image array: uint8, uint16 or float in [0,1], shaped (H,W,3)."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise FilterError(f"{what} has shape {image.shape}; a keyframe must be an RGB colour image (H, W, 3)")
    if image.dtype == np.uint8 or image.dtype == np.uint16:
        rgb = np.divide(image, np.float32(np.iinfo(image.dtype).max), dtype=np.float32)
    elif np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all():
            raise FilterError(f"{what} holds NaN or infinite values")
        low, high = float(image.min()), float(image.max())
        if low < -FLOAT_SLACK or high > 1 + FLOAT_SLACK:
            raise FilterError(
                f"{what} holds float values from {low:g} to {high:g}; a float keyframe must be in [0, 1] "
                "(divide 8-bit values by 255, or pass the uint8 array)"
            )
        rgb = image
    else:
        raise FilterError(f"{what} has {image.dtype} samples; use uint8, uint16 or float in [0, 1]")
    return rgb_to_chroma(rgb.transpose(2, 0, 1), matrix)


class LumaReader:
    """The luma of input frames as a tensor for the engine (clamped to [0,1])."""

    def __init__(self, fmt: vs.VideoFormat, matrix: str) -> None:
        self.format, self.matrix = fmt, matrix

    def unclamped(self, frame: vs.VideoFrame) -> np.ndarray:
        """Normalised luma (H,W) float32, unclamped (limited-range excursions kept)."""
        fmt = self.format
        if fmt.color_family == vs.RGB:
            kr, kb = MATRICES[self.matrix]
            luma = normalise(np.asarray(frame[0]), fmt, vs.RANGE_FULL)
            luma *= np.float32(kr)
            for i, weight in ((1, 1.0 - kr - kb), (2, kb)):
                luma += np.float32(weight) * normalise(np.asarray(frame[i]), fmt, vs.RANGE_FULL)
            return luma
        return normalise(np.asarray(frame[0]), fmt, frame_range(frame))

    def __call__(self, frame: vs.VideoFrame) -> torch.Tensor:
        """Luma (H,W) float32 in [0,1]."""
        luma = self.unclamped(frame)
        return torch.from_numpy(np.clip(luma, 0.0, 1.0, out=luma))


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

    def _write_luma(self, plane: np.ndarray, frame: vs.VideoFrame) -> None:
        """The Y plane of the output: the input's luma, bit-exact (see the module doc)."""
        src, out = self.source, self.format
        if src.color_family == vs.RGB:
            _write_plane(plane, torch.from_numpy(self.luma.unclamped(frame)), out, vs.RANGE_FULL, chroma=False)
            return
        luma = np.asarray(frame[0])
        if out.sample_type == vs.FLOAT:
            normalise(luma, src, frame_range(frame), out=plane)
            return
        shift = out.bits_per_sample - src.bits_per_sample
        if shift == 0:
            np.copyto(plane, luma)
        elif frame_range(frame) == vs.RANGE_LIMITED:
            np.left_shift(luma, shift, out=plane, dtype=plane.dtype)
        else:  # round(v · out_peak / src_peak), in integers below 2^32
            src_peak, out_peak = 2**src.bits_per_sample - 1, 2**out.bits_per_sample - 1
            wide = np.multiply(luma, 2 * out_peak, dtype=np.uint32)
            wide += src_peak
            np.floor_divide(wide, 2 * src_peak, out=plane, casting="unsafe")

    def write(
        self,
        blank: vs.VideoFrame,
        source: vs.VideoFrame,
        chroma: torch.Tensor,
        confidence: tuple[vs.VideoFrame, torch.Tensor] | None = None,
    ) -> vs.VideoFrame:
        """A new output frame from a ``blank`` frame of the output format and the ``source`` frame.

        ``chroma`` (2,H,W) may lie on any device. ``confidence`` (a blank GRAYS frame and an (H,W)
        map) is attached as the frame property ``DvcpConfidence``.
        """
        out = blank.copy()
        fmt, rng = self.format, self._output_range(source)
        chroma = chroma.detach()
        if fmt.color_family == vs.YUV:
            self._write_luma(np.asarray(out[0]), source)
            for i in (1, 2):
                _write_plane(np.asarray(out[i]), chroma[i - 1], fmt, rng, chroma=True)
        else:
            luma = self.luma(source).to(chroma.device)
            rgb = luma_chroma_to_rgb(luma[None, None], chroma.float()[None], self.matrix)[0]
            for i in range(3):
                _write_plane(np.asarray(out[i]), rgb[i], fmt, rng, chroma=False)
        props = out.props
        props.clear()
        props.update(_carried(source.props))
        self._set_colour_props(props, source.props, rng)
        if confidence is not None:
            conf_frame = confidence[0].copy()
            torch.from_numpy(np.asarray(conf_frame[0])).copy_(confidence[1])
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
