"""What ``dvcp eval`` reports from the scores: the JSON report and the printed table.

The JSON holds, for every K (``by_frames``): per sequence and as a mean over sequences, for each
method, PSNR and SSIM over frames 1..K-1; colour retention per sequence and colour drift (mean
|ln retention|) over sequences; and dvcp − flow differences when flow was run. ``psnr_by_frame``
holds every method's PSNR at each frame, per sequence and as a mean over the sequences that reach
that frame.
"""

from __future__ import annotations

from collections.abc import Sequence as SequenceOf
from typing import Any

import numpy as np
import torch

from ..runtime.engine import Engine
from .methods import LABELS
from .metrics import colour_drift
from .scores import SequenceScores

COMPARED = ("dvcp", "flow")  # the difference reported: first minus second


def _difference(entry: dict[str, Any], keys: SequenceOf[str]) -> dict[str, float | None]:
    """dvcp − flow of ``keys`` in an entry holding both methods' scores."""
    first, second = (entry[name] for name in COMPARED)
    return {key: None if first[key] is None or second[key] is None else first[key] - second[key] for key in keys}


def summarise(scores: SequenceOf[SequenceScores], frames: int) -> dict[str, Any]:
    """Scores of every method per sequence and as a mean over sequences, frames 1..frames-1."""
    methods = list(scores[0].methods)
    sequences: dict[str, dict[str, Any]] = {}
    for entry in scores:
        sequences[entry.name] = {"frames_scored": entry.frames_scored(frames), **entry.summary(frames)}
        if all(name in methods for name in COMPARED):
            sequences[entry.name]["dvcp_minus_flow"] = _difference(sequences[entry.name], ("psnr", "ssim"))
    mean = {
        name: {
            "psnr": float(np.mean([s[name]["psnr"] for s in sequences.values()])),
            "ssim": float(np.mean([s[name]["ssim"] for s in sequences.values()])),
            "drift": colour_drift([s[name]["retention"] for s in sequences.values()]),
        }
        for name in methods
    }
    summary = {"frames": frames, "sequences": sequences, "mean": mean}
    if all(name in methods for name in COMPARED):
        summary["dvcp_minus_flow"] = _difference(mean, ("psnr", "ssim", "drift"))
    return summary


def mean_by_frame(scores: SequenceOf[SequenceScores], method: str) -> list[float]:
    """PSNR of ``method`` at each frame index 1.. averaged over the sequences that reach that frame."""
    series = [s.methods[method].psnr for s in scores]
    length = max(len(values) for values in series)
    return [float(np.mean([v[i] for v in series if i < len(v)])) for i in range(length)]


def build_report(
    engine: Engine, scores: SequenceOf[SequenceScores], frames: SequenceOf[int], seconds: float
) -> dict[str, Any]:
    """The JSON report: ``by_frames`` for every K asked for, ``psnr_by_frame`` up to the largest."""
    methods = list(scores[0].methods)
    return {
        "frames": sorted(set(frames)),
        "methods": {name: LABELS[name] for name in methods},
        "by_frames": {str(k): summarise(scores, k) for k in sorted(set(frames))},
        "psnr_by_frame": {
            "mean": {name: mean_by_frame(scores, name) for name in methods},
            "sequences": {s.name: {name: s.methods[name].psnr for name in methods} for s in scores},
        },
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


def _cell(value: float | None, digits: int) -> str:
    return f"{'n/a':>9s}" if value is None else f"{value:9.{digits}f}"


def table_lines(report: dict[str, Any]) -> list[str]:
    """The printed table: for every K, each method's PSNR per sequence and mean, dvcp − flow, mean SSIM
    and colour drift."""
    methods = list(report["methods"])
    compared = all(name in methods for name in COMPARED)
    header = "".join(f"{name:>9s}" for name in methods) + (f"{'dvcp-flow':>11s}" if compared else "")
    lines = []
    for summary in report["by_frames"].values():
        lines.append(f"{'K=' + str(summary['frames']) + ' PSNR (dB)':32s}{header}")
        rows = [(name, entry, entry.get("dvcp_minus_flow")) for name, entry in summary["sequences"].items()]
        rows.append(("mean", summary["mean"], summary.get("dvcp_minus_flow")))
        for name, entry, difference in rows:
            line = f"{name:32s}" + "".join(_cell(entry[m]["psnr"], 2) for m in methods)
            lines.append(line + (f"  {_cell(difference['psnr'], 2)}" if compared else ""))
        for label, key, digits in (("mean SSIM", "ssim", 4), ("colour drift, mean |ln r|", "drift", 3)):
            line = f"{label:32s}" + "".join(_cell(summary["mean"][m][key], digits) for m in methods)
            difference = summary.get("dvcp_minus_flow")
            lines.append(line + (f"  {_cell(difference[key], digits)}" if compared else ""))
    return lines
