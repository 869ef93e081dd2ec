"""The presets' speed/quality curve: each preset's scores on colour sequences and its speed through the
filter, with DIS-flow propagation and the keyframe copy beside them (``dvcp bench --presets``).

Quality is the evaluation protocol (:mod:`dvcp_plugin.evaluation.protocol`) run once per preset on
the same sequences, keyframe 0; flow and the keyframe copy are scored in the first run. Speed is
the ``filter`` measurement of :mod:`dvcp_plugin.bench.filter_bench` for each preset and input size,
on frames of one of those sequences scaled to the size (or the synthetic texture without data),
with flow timed frame by frame in the same process: the ratio does not depend on what else the
machine was doing when.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..evaluation.protocol import evaluate
from ..options import PRESETS, EngineOptions
from ..runtime.engine import Engine
from ..training.data import Sequence as FrameSequence

K_VALUES = (25, 80)


def preset_quality(
    sequences: Sequence[FrameSequence],
    weights: str | None,
    threads: int,
    presets: Sequence[str] = tuple(PRESETS),
    progress: Callable[[str], None] = lambda text: None,
) -> dict[str, Any]:
    """Per preset (and for flow and the keyframe copy): mean PSNR at each K, the worst sequence at the
    largest K (the lowest dvcp − flow), colour drift there, and the evaluation's seconds."""
    rows: dict[str, Any] = {}
    baselines: list[str] = ["flow", "key"]
    flow: dict[str, float] = {}  # flow's PSNR per sequence at the largest K, from the first evaluation
    for preset in presets:
        progress(f"scoring preset {preset} on {len(sequences)} sequences")
        engine = Engine(EngineOptions(preset=preset, weights=Path(weights) if weights else None, threads=threads))
        report, _, _ = evaluate(engine, sequences, K_VALUES, baselines=baselines)
        if "flow" in baselines:
            last = report["by_frames"][str(max(K_VALUES))]["sequences"]
            flow = {name: entry["flow"]["psnr"] for name, entry in last.items()}
        rows[preset] = _row(report, "dvcp", flow) | {"seconds": report["seconds"]}
        for name in baselines:
            rows[name] = _row(report, name, flow)
        baselines = []
    return rows


def _row(report: dict[str, Any], method: str, flow: dict[str, float]) -> dict[str, Any]:
    """One method's mean PSNR per K, worst sequence against flow (``flow``: its PSNR per sequence) at the
    largest K, and drift there."""
    by_frames = report["by_frames"]
    last = by_frames[str(max(K_VALUES))]
    row: dict[str, Any] = {f"psnr_{k}": by_frames[str(k)]["mean"][method]["psnr"] for k in K_VALUES}
    row["drift"] = last["mean"][method]["drift"]
    if method != "flow" and flow:
        gaps = {name: entry[method]["psnr"] - flow[name] for name, entry in last["sequences"].items()}
        worst = min(gaps, key=lambda name: gaps[name])
        row["worst"] = {"sequence": worst, "minus_flow": gaps[worst]}
    return row


def curve_rows(quality: dict[str, Any], speed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per preset, then flow and the keyframe copy: quality (when scored) and, per input size,
    fps through the filter and dvcp / flow of the same run (flow's own fps in its row)."""
    names = [*dict.fromkeys(e["preset"] for e in speed), *(n for n in quality if n not in ("flow", "key"))]
    rows = []
    for name in [*dict.fromkeys(names), "flow", "key"]:
        entries = [e for e in speed if e["status"] == "measured" and (name == "flow" or e["preset"] == name)]
        if name not in quality and not entries:
            continue
        fps: dict[str, Any] = {}
        for e in entries:
            size = f"{e['width']}x{e['height']}"
            if name == "flow":
                fps.setdefault(size, {"fps": e["flow"]["fps"], "over_flow": 1.0})
            else:
                fps[size] = {"fps": e["sequential"]["fps"], "over_flow": e["over_flow"]}
        rows.append({"name": name, "quality": quality.get(name), "speed": fps})
    return rows


def _f(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def curve_markdown(rows: list[dict[str, Any]], sizes: Sequence[str]) -> list[str]:
    """The curve as a markdown table."""
    head = ["", *(f"val PSNR K={k} (dB)" for k in K_VALUES), "worst sequence, K=80 (− flow)", "drift, K=80"]
    for size in sizes:
        head += [f"fps {size}", f"× flow {size}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        q = row["quality"] or {}
        worst = q.get("worst")
        cells = [row["name"], *(_f(q.get(f"psnr_{k}"), 2) for k in K_VALUES),
                 f"{worst['sequence']} ({worst['minus_flow']:+.2f})" if worst else "–", _f(q.get("drift"), 3)]
        for size in sizes:
            speed = row["speed"].get(size, {})
            cells += [_f(speed.get("fps"), 2), _f(speed.get("over_flow"), 3)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines
