"""Evaluation protocol of DESIGN §5: colour frames 1..K-1 of each sequence from its frame 0, score RGB.

For every sequence:

- input grey = BT.601 full-range luma Y' of each frame, rounded to 8 bits;
- keyframe = frame 0 in colour;
- output RGB = (grey, chroma upsampled to full size by :meth:`Engine.to_full`), rounded to uint8;
- PSNR (peak 255) and SSIM (Gaussian window 11, σ 1.5, on RGB in [0, 1], kornia's 'same' padding)
  of each output frame against the original, frames 1..K-1, averaged per sequence, then over
  sequences;
- the reference "key-frame chroma copied onto every frame" (frame 0's chroma with each frame's own
  grey) is scored in the same run.

One run to the largest K also gives the scores of every smaller K (frame k depends only on frames
0..k), so several K are reported from one pass. Frames are read in natural name order, as
``dvcp colorize`` reads a folder.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence as SequenceOf
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..models.color import grey_u8, luma_chroma_to_rgb
from ..runtime.engine import Engine
from ..training.data import DataError, Sequence, frame_planes, load_frame
from .metrics import psnr, ssim


def to_u8(rgb: torch.Tensor) -> np.ndarray:
    """RGB (1,3,H,W) in [0,1] -> uint8 (H,W,3), rounded and clipped."""
    return (rgb[0] * 255.0).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


@dataclass
class SequenceScores:
    """Per-frame scores of one sequence, frames 1..n-1 (index 0 of each list is frame 1)."""

    name: str
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    reference_psnr: list[float] = field(default_factory=list)
    reference_ssim: list[float] = field(default_factory=list)

    def summary(self, frames: int) -> dict[str, float | int]:
        """Mean scores over frames 1..frames-1 (or as many as the sequence has)."""
        count = min(frames - 1, len(self.psnr))
        mean = lambda values: float(np.mean(values[:count]))  # noqa: E731
        return {
            "psnr": mean(self.psnr),
            "ssim": mean(self.ssim),
            "reference_psnr": mean(self.reference_psnr),
            "reference_ssim": mean(self.reference_ssim),
            "frames_scored": count,
        }


@dataclass
class SheetFrames:
    """Images of chosen frames of one sequence for the contact sheet: (frame, grey (H,W), truth, output)."""

    name: str
    rows: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)


def sheet_frames(count: int, rows: int = 5) -> list[int]:
    """Up to ``rows`` frame indices spread evenly over 1..count-1."""
    return sorted({int(round(x)) for x in np.linspace(1, count - 1, min(rows, count - 1))})


def evaluate_sequence(
    engine: Engine,
    sequence: Sequence,
    frames: int,
    sheet: SheetFrames | None = None,
    on_frame: Callable[[], None] | None = None,
) -> SequenceScores:
    """Colour frames 1..min(frames, n)-1 of ``sequence`` from frame 0 and score each one."""
    count = min(frames, len(sequence.frames))
    if count < 2:
        raise DataError(f"sequence {sequence.name} has {len(sequence.frames)} frame(s); scoring needs at least 2")
    truths = [load_frame(path) for path in sequence.frames[:count]]
    shapes = {t.shape for t in truths}
    if len(shapes) != 1:
        raise DataError(f"sequence {sequence.name} mixes frame sizes {sorted(shapes)}")
    planes = [frame_planes(t) for t in truths]
    greys = [grey for grey, _ in planes]
    key_chroma = planes[0][1]
    size = tuple(greys[0].shape)
    keep = set(sheet_frames(count)) if sheet is not None else set()
    scores = SequenceScores(sequence.name)
    for index, out in enumerate(engine.run_shot(greys, key_chroma)):
        if index == 0:
            continue
        grey = greys[index][None, None]
        output = to_u8(luma_chroma_to_rgb(grey, engine.to_full(out.final, size)[None]))
        reference = to_u8(luma_chroma_to_rgb(grey, key_chroma[None]))
        truth = truths[index]
        scores.psnr.append(psnr(output, truth))
        scores.ssim.append(ssim(output, truth))
        scores.reference_psnr.append(psnr(reference, truth))
        scores.reference_ssim.append(ssim(reference, truth))
        if index in keep:
            sheet.rows.append((index, grey_u8(truth), truth, output))
        if on_frame is not None:
            on_frame()
    return scores


def summarise(scores: SequenceOf[SequenceScores], frames: int) -> dict[str, Any]:
    """Means per sequence and over sequences for frames 1..frames-1."""
    per_sequence = {s.name: s.summary(frames) for s in scores}
    mean = lambda key: float(np.mean([v[key] for v in per_sequence.values()]))  # noqa: E731
    return {
        "frames": frames,
        "mean_psnr": mean("psnr"),
        "mean_ssim": mean("ssim"),
        "reference_mean_psnr": mean("reference_psnr"),
        "reference_mean_ssim": mean("reference_ssim"),
        "sequences": per_sequence,
    }


def mean_by_frame(scores: SequenceOf[SequenceScores], reference: bool = False) -> list[float]:
    """PSNR at each frame index 1.. averaged over the sequences that reach that frame."""
    series = [s.reference_psnr if reference else s.psnr for s in scores]
    length = max(len(values) for values in series)
    return [float(np.mean([v[i] for v in series if i < len(v)])) for i in range(length)]


def report(
    engine: Engine, scores: SequenceOf[SequenceScores], frames: SequenceOf[int], seconds: float
) -> dict[str, Any]:
    """The JSON report: top level for the largest K, ``by_frames`` for every K asked for."""
    largest = max(frames)
    top = summarise(scores, largest)
    for name, values in top["sequences"].items():
        entry = next(s for s in scores if s.name == name)
        values["psnr_by_frame"] = entry.psnr
        values["reference_psnr_by_frame"] = entry.reference_psnr
    return {
        **top,
        "reference": {
            "method": "key-frame chroma copied onto every frame",
            "mean_psnr": top["reference_mean_psnr"],
            "mean_ssim": top["reference_mean_ssim"],
        },
        "by_frames": {str(k): summarise(scores, k) for k in sorted(set(frames))},
        "mean_psnr_by_frame": mean_by_frame(scores),
        "reference_mean_psnr_by_frame": mean_by_frame(scores, reference=True),
        "model": {
            "weights": str(engine.weights_path),
            "stages": dict(engine.stage_names),
            "chroma_scale": engine.chroma_scale,
            "device": str(engine.device),
            "half": engine.dtype == torch.float16,
        },
        "seconds": round(seconds, 1),
        "steps": int(engine.stats["steps"]),
    }


def evaluate(
    engine: Engine,
    sequences: SequenceOf[Sequence],
    frames: SequenceOf[int],
    sheet_sequence: str | None = None,
    on_frame: Callable[[], None] | None = None,
) -> tuple[dict[str, Any], list[SequenceScores], SheetFrames | None]:
    """Run the protocol on every sequence up to the largest of ``frames``; returns (report, scores, sheet)."""
    if not frames or min(frames) < 2:
        raise DataError(f"--frames must be at least 2 (frames 1..K-1 are scored), got {list(frames)}")
    names = [s.name for s in sequences]
    if sheet_sequence is not None and sheet_sequence not in names:
        raise DataError(f"contact-sheet sequence {sheet_sequence!r} is not among {', '.join(names)}")
    started = time.monotonic()
    scores, sheet = [], None
    for sequence in sequences:
        frames_of_sheet = None
        if sequence.name == sheet_sequence:
            sheet = frames_of_sheet = SheetFrames(sequence.name)
        scores.append(evaluate_sequence(engine, sequence, max(frames), frames_of_sheet, on_frame))
    return report(engine, scores, frames, time.monotonic() - started), scores, sheet
