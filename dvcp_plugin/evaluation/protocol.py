"""The evaluation protocol (docs/TRAINING.md): colour each sequence from its own keyframes, score the rest in RGB.

For every sequence:

- input grey = BT.601 full-range luma Y' of each frame, rounded to 8 bits;
- keyframes = the true colour frames at the chosen positions (frame 0 by default; ``last`` is the
  last frame coloured, min(K, length) − 1 for the largest K);
- every method (dvcp and the baselines of :mod:`.methods`) colours the sequence from the same greys
  and keyframes; its output RGB = (grey, its full-resolution chroma), rounded to uint8;
- PSNR (peak 255) and SSIM (Gaussian window 11, σ 1.5, on RGB in [0, 1], kornia's 'same' padding)
  of each output frame that is not a keyframe against the original, frames 0..K-1, averaged per
  sequence, then over sequences; the chroma PSNR of its chroma planes against the original's (the
  colour alone); and the mean |CbCr| of each output frame and of the original, for colour retention.

With scan-like degradations (:mod:`~dvcp_plugin.training.degradations`) the same sequences are
coloured a second time from their degraded greys; the keyframes are the degraded greys with the true
chroma, as a restorer colours a scan. Chroma PSNR is then the measure that matters: the output's
luma is the degraded input's own.

One run colours the first max(K) frames; a smaller K scores the frames below K of that same run
(with the default keyframe at frame 0 they are exactly what a run to K gives: a frame depends only
on the frames before it). Frames are read in natural name order, as ``dvcp colorize`` reads a folder.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Mapping
from collections.abc import Sequence as SequenceOf
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..models.color import grey_u8
from ..runtime.engine import Engine
from ..training.data import DataError, Sequence, frame_planes, load_frame
from ..training.degradations import CLEAN, Degradations, degrade
from .methods import BASELINES, Method, dvcp_method, output_rgb
from .metrics import chroma_psnr, mean_chroma, psnr, ssim
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


def sheet_frames(count: int, keyframes: SequenceOf[int] = (0,), rows: int = 5) -> list[int]:
    """Up to ``rows`` frame indices spread evenly over the frames 0..count-1 that are not keyframes."""
    scored = [n for n in range(count) if n not in keyframes]
    spread = np.linspace(scored[0], scored[-1], min(rows, len(scored)))
    return sorted({min(scored, key=lambda n: abs(n - int(round(x)))) for x in spread})


KeySpec = int | str  # a frame number, or "last"


def keyframe_numbers(keys: SequenceOf[KeySpec], count: int, name: str) -> list[int]:
    """The frame numbers of keyframes given as numbers or "last" (= count − 1), in a sequence whose
    first ``count`` frames are coloured."""
    positions = sorted({count - 1 if key == "last" else int(key) for key in keys})
    if not positions or positions[0] < 0:
        raise DataError(f"keyframes {list(keys)} must be frame numbers from 0, or last")
    if positions[-1] >= count:
        raise DataError(f"keyframe {positions[-1]} is beyond the {count} frames coloured of sequence {name}")
    if len(positions) == count:
        raise DataError(f"every frame of sequence {name} is a keyframe; nothing is left to score")
    return positions


def sequence_seed(name: str, seed: int) -> int:
    """The seed of a sequence's degradations: its own for every sequence name and run seed."""
    return (zlib.crc32(name.encode()) + 1_000_003 * seed) % 2**31


def evaluate_sequence(
    methods: Mapping[str, Method],
    sequence: Sequence,
    frames: int,
    sheet: SheetFrames | None = None,
    on_frame: Callable[[], None] | None = None,
    keys: SequenceOf[KeySpec] = (0,),
    degradations: Degradations = CLEAN,
    seed: int = 0,
) -> SequenceScores:
    """Colour frames 0..min(frames, n)-1 of ``sequence`` from its keyframes at ``keys`` with every method and
    score each frame that is not a keyframe.

    With ``degradations``, the methods colour the degraded greys from keyframes that are the true chroma
    (moved by the gate weave, as the greys were); chroma PSNR is scored against that moved chroma, RGB
    PSNR against the original frames."""
    count = min(frames, len(sequence.frames))
    if count < 2:
        raise DataError(f"sequence {sequence.name} has {len(sequence.frames)} frame(s); scoring needs at least 2")
    positions = keyframe_numbers(keys, count, sequence.name)
    truths = [load_frame(path) for path in sequence.frames[:count]]
    shapes = {t.shape for t in truths}
    if len(shapes) != 1:
        raise DataError(f"sequence {sequence.name} mixes frame sizes {sorted(shapes)}")
    planes = [frame_planes(t) for t in truths]
    scan = degrade([g for g, _ in planes], degradations, sequence_seed(sequence.name, seed), [c for _, c in planes])
    greys, true_chroma = scan.greys, scan.chroma or []
    key_chroma = {n: true_chroma[n] for n in positions}
    keep = set(sheet_frames(count, positions)) if sheet is not None else set()
    scores = SequenceScores(
        sequence.name, {name: MethodScores() for name in methods}, keyframes=positions, coloured=count
    )
    runs = [method(greys, key_chroma) for method in methods.values()]
    for index, chromas in enumerate(zip(*runs, strict=True)):
        if index in key_chroma:
            continue
        truth = truths[index]
        scores.frames.append(index)
        scores.truth_chroma.append(mean_chroma(truth))
        outputs = {}
        for name, chroma in zip(methods, chromas, strict=True):
            output = outputs[name] = output_rgb(greys[index], chroma)
            method_scores = scores.methods[name]
            method_scores.psnr.append(psnr(output, truth))
            method_scores.chroma_psnr.append(chroma_psnr(chroma, true_chroma[index]))
            method_scores.ssim.append(ssim(output, truth))
            method_scores.chroma.append(mean_chroma(output))
        if sheet is not None and index in keep:
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
    keys: SequenceOf[KeySpec] = (0,),
    estimate: str = "final",
    degradations: Degradations = CLEAN,
    seed: int = 0,
) -> tuple[dict[str, Any], list[SequenceScores], SheetFrames | None]:
    """Run the protocol on every sequence up to the largest of ``frames`` for dvcp (its ``estimate``:
    final, local or global) and ``baselines`` (names in :data:`.methods.BASELINES`), keyframes at
    ``keys``; returns (report, scores, sheet).

    With ``degradations`` active every sequence is also coloured from its degraded greys (seeded by
    ``seed`` and the sequence's name), and the report holds that run's report under ``degraded``.
    The scores and the sheet returned are those of the clean run."""
    if not frames or min(frames) < 2:
        raise DataError(f"--frames must be at least 2 (frames 1..K-1 are scored), got {list(frames)}")
    unknown = [name for name in baselines if name not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {', '.join(unknown)}; known: {', '.join(BASELINES)}")
    names = [s.name for s in sequences]
    if sheet_sequence is not None and sheet_sequence not in names:
        raise DataError(f"contact-sheet sequence {sheet_sequence!r} is not among {', '.join(names)}")
    for sequence in sequences:  # every sequence's keyframes are checked before any work
        keyframe_numbers(keys, min(max(frames), len(sequence.frames)), sequence.name)
    methods = {"dvcp": dvcp_method(engine, estimate), **{name: BASELINES[name] for name in baselines}}
    started = time.monotonic()
    scores, sheet = [], None
    for sequence in sequences:
        frames_of_sheet = None
        if sequence.name == sheet_sequence:
            sheet = frames_of_sheet = SheetFrames(sequence.name)
        scores.append(evaluate_sequence(methods, sequence, max(frames), frames_of_sheet, on_frame, keys))
    report = build_report(engine, scores, frames, keys, time.monotonic() - started, estimate)
    if degradations.active:
        started = time.monotonic()
        degraded = [
            evaluate_sequence(methods, sequence, max(frames), None, on_frame, keys, degradations, seed)
            for sequence in sequences
        ]
        report["degraded"] = {
            "degradations": degradations.spec(), "seed": seed,
            **build_report(engine, degraded, frames, keys, time.monotonic() - started, estimate),
        }
    return report, scores, sheet
