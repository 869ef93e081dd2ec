"""What ``dvcp eval`` reports from the scores: the JSON report and the printed table.

The JSON holds the keyframes asked for (``keys``) and, for every K (``by_frames``): per sequence
(with its keyframe positions) and as a mean over sequences, for each method, PSNR, chroma PSNR and
SSIM over the frames below K that are not keyframes; colour retention per sequence and colour drift (mean
|ln retention|) over sequences; and dvcp − flow differences when flow was run. ``psnr_by_frame``
holds every method's PSNR at each frame number from 0, per sequence and as a mean over the
sequences that score that frame; null where no sequence does (a keyframe). A run on degraded
input as well holds that run's report, of the same form, under ``degraded`` (with the
degradations' spec and seed).
"""

from __future__ import annotations

from collections.abc import Sequence as SequenceOf
from typing import Any

import numpy as np
import torch

from ..options import StageOptions
from ..runtime.engine import Engine
from .methods import LABELS
from .metrics import colour_drift
from .scores import SequenceScores

COMPARED = ("dvcp", "flow")  # the difference reported: first minus second


def _difference(entry: dict[str, Any], keys: SequenceOf[str]) -> dict[str, float | None]:
    """dvcp − flow of ``keys`` in an entry holding both methods' scores."""
    first, second = (entry[name] for name in COMPARED)
    return {key: None if first[key] is None or second[key] is None else first[key] - second[key] for key in keys}


def _mean(values: SequenceOf[float | None]) -> float | None:
    """The mean of values that are all known; None when one is not."""
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if len(known) == len(values) else None


def summarise(scores: SequenceOf[SequenceScores], frames: int) -> dict[str, Any]:
    """Scores of every method per sequence and as a mean over sequences, frames 1..frames-1."""
    methods = list(scores[0].methods)
    sequences: dict[str, dict[str, Any]] = {}
    for entry in scores:
        sequences[entry.name] = {
            "frames_scored": entry.frames_scored(frames), "keyframes": entry.keyframes, **entry.summary(frames)
        }
        if all(name in methods for name in COMPARED):
            sequences[entry.name]["dvcp_minus_flow"] = _difference(
                sequences[entry.name], ("psnr", "chroma_psnr", "ssim")
            )
    mean = {
        name: {
            "psnr": float(np.mean([s[name]["psnr"] for s in sequences.values()])),
            "chroma_psnr": _mean([s[name]["chroma_psnr"] for s in sequences.values()]),
            "ssim": float(np.mean([s[name]["ssim"] for s in sequences.values()])),
            "drift": colour_drift([s[name]["retention"] for s in sequences.values()]),
        }
        for name in methods
    }
    summary = {"frames": frames, "sequences": sequences, "mean": mean}
    if all(name in methods for name in COMPARED):
        summary["dvcp_minus_flow"] = _difference(mean, ("psnr", "chroma_psnr", "ssim", "drift"))
    return summary


def mean_by_frame(scores: SequenceOf[SequenceScores], method: str) -> list[float | None]:
    """PSNR of ``method`` at each frame number from 0, averaged over the sequences that score that frame."""
    series = [s.by_frame(method) for s in scores]
    length = max(len(values) for values in series)
    means: list[float | None] = []
    for i in range(length):
        values = [value for v in series if i < len(v) and (value := v[i]) is not None]
        means.append(float(np.mean(values)) if values else None)
    return means


def build_report(
    engine: Engine,
    scores: SequenceOf[SequenceScores],
    frames: SequenceOf[int],
    keys: SequenceOf[int | str],
    seconds: float,
    estimate: str = "final",
) -> dict[str, Any]:
    """The JSON report: ``by_frames`` for every K asked for, ``psnr_by_frame`` up to the largest."""
    methods = list(scores[0].methods)
    return {
        "frames": sorted(set(frames)),
        "keys": list(keys),
        "methods": {name: LABELS[name] for name in methods},
        "by_frames": {str(k): summarise(scores, k) for k in sorted(set(frames))},
        "psnr_by_frame": {
            "mean": {name: mean_by_frame(scores, name) for name in methods},
            "sequences": {s.name: {name: s.by_frame(name) for name in methods} for s in scores},
        },
        "model": {
            "weights": str(engine.weights_path),
            "preset": engine.options.preset,
            "stages": dict(engine.stage_names),
            "stage_options": (engine.options.stage_options or StageOptions({})).plain(),
            "chroma_scale": engine.chroma_scale,
            "device": str(engine.device),
            "half": engine.dtype == torch.float16,
            "estimate": estimate,  # which of dvcp's estimates is scored
            "global_estimate": engine.global_estimate,
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
    lines = [f"keyframes: {', '.join(map(str, report['keys']))} (true colours); keyframes are not scored"]
    model = report["model"]
    if model.get("estimate", "final") != "final" or model.get("global_estimate", "stage") != "stage":
        lines.append(f"dvcp column: its {model['estimate']} estimate; global estimate from the "
                     + ("keyframe's chroma (ablation)" if model["global_estimate"] == "key" else "global stage"))
    for summary in report["by_frames"].values():
        lines.append(f"{'K=' + str(summary['frames']) + ' PSNR (dB)':32s}{header}")
        rows = [(name, entry, entry.get("dvcp_minus_flow")) for name, entry in summary["sequences"].items()]
        rows.append(("mean", summary["mean"], summary.get("dvcp_minus_flow")))
        for name, entry, difference in rows:
            line = f"{name:32s}" + "".join(_cell(entry[m]["psnr"], 2) for m in methods)
            lines.append(line + (f"  {_cell(difference['psnr'], 2)}" if compared else ""))
        for label, key, digits in (
            ("mean chroma PSNR (dB)", "chroma_psnr", 2), ("mean SSIM", "ssim", 4),
            ("colour drift, mean |ln r|", "drift", 3),
        ):
            line = f"{label:32s}" + "".join(_cell(summary["mean"][m][key], digits) for m in methods)
            difference = summary.get("dvcp_minus_flow")
            lines.append(line + (f"  {_cell(difference[key], digits)}" if compared else ""))
    degraded = report.get("degraded")
    if degraded is not None:
        lines.append(f"degraded input ({degraded['degradations']}, seed {degraded['seed']}): mean chroma PSNR (dB)")
        lines.append(f"{'':32s}" + "".join(f"{m:>9s}{'':12s}" for m in methods))
        lines.append(f"{'':32s}" + f"{'clean':>9s}{'degraded':>9s}{'change':>7s}  " * len(methods))
        for k, summary in report["by_frames"].items():
            worse = degraded["by_frames"][k]["mean"]
            cells = "".join(
                f"{summary['mean'][m]['chroma_psnr']:9.2f}{worse[m]['chroma_psnr']:9.2f}"
                f"{worse[m]['chroma_psnr'] - summary['mean'][m]['chroma_psnr']:+7.2f}  "
                for m in methods
            )
            lines.append(f"{'K=' + k:32s}{cells}")
    return lines
