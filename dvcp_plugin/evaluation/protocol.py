"""Evaluation protocol of DESIGN §5: colour frames 1..K-1 of each sequence from its frame 0, score RGB.

For every sequence:

- input grey = BT.601 full-range luma Y' of each frame, rounded to 8 bits;
- keyframe = frame 0 in colour;
- every method (dvcp and the baselines of :mod:`.methods`) colours the sequence from the same greys
  and keyframe; its output RGB = (grey, its full-resolution chroma), rounded to uint8;
- PSNR (peak 255) and SSIM (Gaussian window 11, σ 1.5, on RGB in [0, 1], kornia's 'same' padding)
  of each output frame against the original, frames 1..K-1, averaged per sequence, then over
  sequences; and the mean |CbCr| of each output frame and of the original, for colour retention.

The methods advance together, one frame at a time. One run to the largest K also gives the scores
of every smaller K (frame k depends only on frames 0..k), so several K are reported from one pass.
Frames are read in natural name order, as ``dvcp colorize`` reads a folder.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence as SequenceOf
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..models.color import grey_u8
from ..runtime.engine import Engine
from ..training.data import DataError, Sequence, frame_planes, load_frame
from .methods import BASELINES, Method, dvcp_method, output_rgb
from .metrics import mean_chroma, psnr, ssim
from .report import build_report
from .scores import MethodScores, SequenceScores


@dataclass
class SheetRow:
    """One frame on the contact sheet: its index, grey (H,W), truth and each method's output (H,W,3)."""

    frame: int
    grey: np.ndarray
    truth: np.ndarray
    outputs: dict[str, np.ndarray]


@dataclass
class SheetFrames:
    """Chosen frames of one sequence for the contact sheet."""

    name: str
    rows: list[SheetRow] = field(default_factory=list)


def sheet_frames(count: int, rows: int = 5) -> list[int]:
    """Up to ``rows`` frame indices spread evenly over 1..count-1."""
    return sorted({int(round(x)) for x in np.linspace(1, count - 1, min(rows, count - 1))})


def evaluate_sequence(
    methods: Mapping[str, Method],
    sequence: Sequence,
    frames: int,
    sheet: SheetFrames | None = None,
    on_frame: Callable[[], None] | None = None,
) -> SequenceScores:
    """Colour frames 1..min(frames, n)-1 of ``sequence`` from frame 0 with every method and score each frame."""
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
    keep = set(sheet_frames(count)) if sheet is not None else set()
    scores = SequenceScores(sequence.name, {name: MethodScores() for name in methods})
    runs = [method(greys, key_chroma) for method in methods.values()]
    for index, chromas in enumerate(zip(*runs, strict=True)):
        if index == 0:
            continue
        truth = truths[index]
        scores.truth_chroma.append(mean_chroma(truth))
        outputs = {}
        for name, chroma in zip(methods, chromas, strict=True):
            output = outputs[name] = output_rgb(greys[index], chroma)
            method_scores = scores.methods[name]
            method_scores.psnr.append(psnr(output, truth))
            method_scores.ssim.append(ssim(output, truth))
            method_scores.chroma.append(mean_chroma(output))
        if index in keep:
            sheet.rows.append(SheetRow(index, grey_u8(truth), truth, outputs))
        if on_frame is not None:
            on_frame()
    return scores


def evaluate(
    engine: Engine,
    sequences: SequenceOf[Sequence],
    frames: SequenceOf[int],
    sheet_sequence: str | None = None,
    on_frame: Callable[[], None] | None = None,
    baselines: SequenceOf[str] = tuple(BASELINES),
) -> tuple[dict[str, Any], list[SequenceScores], SheetFrames | None]:
    """Run the protocol on every sequence up to the largest of ``frames`` for dvcp and ``baselines``
    (names in :data:`.methods.BASELINES`); returns (report, scores, sheet)."""
    if not frames or min(frames) < 2:
        raise DataError(f"--frames must be at least 2 (frames 1..K-1 are scored), got {list(frames)}")
    unknown = [name for name in baselines if name not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {', '.join(unknown)}; known: {', '.join(BASELINES)}")
    names = [s.name for s in sequences]
    if sheet_sequence is not None and sheet_sequence not in names:
        raise DataError(f"contact-sheet sequence {sheet_sequence!r} is not among {', '.join(names)}")
    methods = {"dvcp": dvcp_method(engine), **{name: BASELINES[name] for name in baselines}}
    started = time.monotonic()
    scores, sheet = [], None
    for sequence in sequences:
        frames_of_sheet = None
        if sequence.name == sheet_sequence:
            sheet = frames_of_sheet = SheetFrames(sequence.name)
        scores.append(evaluate_sequence(methods, sequence, max(frames), frames_of_sheet, on_frame))
    return build_report(engine, scores, frames, time.monotonic() - started), scores, sheet
