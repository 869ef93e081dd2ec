"""The benchmark report: measured entries with FLOPs and H200 floors (JSON), and its markdown tables."""

from __future__ import annotations

from typing import Any

from .common import STEP_STAGES
from .flops import H200, floors

SCHEMA = "dvcp-bench/2"


def report(entries: list[dict[str, Any]], info: dict[str, Any]) -> dict[str, Any]:
    """The JSON report: machine, weights, settings, entries, and FLOPs with H200 floors per size."""
    flops_rows = []
    seen = set()
    for entry in entries:
        key = (entry["width"], entry["height"], entry["chroma_scale"])
        if entry["kind"] == "engine" and entry["status"] == "measured" and key not in seen:
            seen.add(key)
            flops_rows.append({
                "width": key[0], "height": key[1], "chroma_scale": key[2], "working": entry["working"],
                "flops": entry["flops"],
                "h200_floor_fp16": floors(entry["flops"], True),
                "h200_floor_fp32": floors(entry["flops"], False),
            })
    return {"schema": SCHEMA, **info, "h200_rates": H200, "flops_per_frame": flops_rows, "entries": entries}


def _f(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def _where(e: dict[str, Any]) -> list[str]:
    precision = "fp16" if e["half"] else "fp32"
    scale = "preset" if e["chroma_scale"] is None else f"{e['chroma_scale']:g}"
    where = [f"{e['width']}×{e['height']}", scale, e["device"], precision, str(e["threads"])]
    return [e.get("preset", "–"), *where]


def _not_measured(e: dict[str, Any], width: int) -> list[str]:
    return [*_where(e), e.get("reason", e["status"]), *[""] * (width - 7)]


def _engine_section(rep: dict[str, Any], entries: list[dict[str, Any]]) -> list[str]:
    head = ["preset", "input", "scale", "device", "precision", "threads", "working", "motion at", "end to end", "fps",
            "CPU ms", *(name.replace("_", " ") for name in STEP_STAGES), "keyframe prep", "two-stage match",
            "exhaustive match", "exhaustive / two-stage", "peak RSS MiB", "peak GPU MiB"]
    rows = []
    for e in entries:
        if e["status"] != "measured":
            rows.append(_not_measured(e, len(head)))
            continue
        s = e["stages_ms"]
        matched = "exhaustive_match_ms" in e
        scaled = " *" if matched and e["exhaustive_rows_timed"] != e["exhaustive_rows"] else ""
        rows.append([*_where(e), "×".join(str(v) for v in reversed(e["working"])),
                     "×".join(str(v) for v in reversed(e["motion_size"])), _f(e["end_to_end_ms"]),
                     _f(e["fps"], 2), _f(e["end_to_end_cpu_ms"]), *(_f(s[name]) for name in STEP_STAGES),
                     _f(s["prepare_key"]), _f(e.get("two_stage_match_ms")),
                     (_f(e["exhaustive_match_ms"]) + scaled) if matched else "–",
                     _f(e.get("exhaustive_over_two_stage")), _f(e["peak_rss_mb"], 0), _f(e["peak_gpu_mb"], 0)])
    lines = ["### Engine, per frame (ms; median of the timed frames)", "", *_table(head, rows), "",
             "motion: time in the motion estimators (OpenCV DIS, on the CPU), which the local plan and the "
             "global stage leave out. CPU ms: CPU time of all the process's threads per frame, end to end; "
             "other processes inflate it less than wall time.", "",
             "Two-stage and exhaustive matching are timed for feature-matching global stages only; "
             "\\* exhaustive matching timed on the first rows of queries (whole key grid) and scaled to all "
             "rows; its cost per row is constant.", "", "### Where the time goes (% of the stage sum)", ""]
    share_rows = []
    for e in (e for e in entries if e["status"] == "measured"):
        total = sum(e["stages_ms"][name] for name in STEP_STAGES)
        share_rows.append([*_where(e), *(_f(100 * e["stages_ms"][name] / total, 0) for name in STEP_STAGES)])
    lines += _table(["preset", "input", "scale", "device", "precision", "threads", *STEP_STAGES], share_rows)
    flop_head = ["input", "scale", "local net", "sepconv (analytic)", "global", "refine", "keyframe prep",
                 "floor fp16 compute", "floor fp16 bytes", "floor fp32 compute", "floor fp32 bytes"]
    flop_rows = []
    for row in rep["flops_per_frame"]:
        f = row["flops"]
        stages = ("local_network", "local_sepconv_analytic", "global", "refine", "prepare_key")
        flop_rows.append([f"{row['width']}×{row['height']}", f"{row['chroma_scale']:g}",
                          *(_f(f[k] / 1e9, 2) for k in stages),
                          *(_f(row[p][k], 3) for p in ("h200_floor_fp16", "h200_floor_fp32")
                            for k in ("compute_ms", "bandwidth_ms"))])
    return [*lines, "", "### FLOPs per frame (GFLOP; motion estimation not counted) and H200 floors (ms)", "",
            *_table(flop_head, flop_rows)]


def _filter_section(entries: list[dict[str, Any]]) -> list[str]:
    head = ["preset", "input", "scale", "device", "precision", "threads", "sequential", "fps", "CPU ms", "engine alone",
            "engine fps", "engine CPU ms", "filter / engine", "filter adds", "in flight", "fps (in flight)",
            "peak RSS MiB", "peak GPU MiB"]
    rows = []
    for e in entries:
        if e["status"] != "measured":
            rows.append(_not_measured(e, len(head)))
            continue
        seq, alone = e["sequential"], e["engine"]
        rows.append([*_where(e), _f(seq["ms"]), _f(seq["fps"], 2), _f(seq["cpu_ms"]), _f(alone["ms"]),
                     _f(alone["fps"], 2), _f(alone["cpu_ms"]), _f(e["over_engine"], 2), _f(e["filter_adds_ms"]),
                     f"{_f(e['in_flight']['ms'])} ({e['prefetch']})", _f(e["in_flight"]["fps"], 2),
                     _f(e["peak_rss_mb"], 0), _f(e["peak_gpu_mb"], 0)])
    return ["### Through the VapourSynth filter (colorize), per frame (ms)", "", *_table(head, rows), "",
            "Requested one by one, alternating frame by frame with the engine alone (same options, same "
            "process): filter / engine is the filter's fps over the engine's. CPU ms: CPU time of all the "
            "process's threads (VapourSynth's included) per frame, which other processes on the machine "
            "inflate less than wall time."]


def _peers_section(entries: list[dict[str, Any]]) -> list[str]:
    head = ["preset", "input", "scale", "device", "precision", "threads", "through", "dvcp fps", "flow fps",
            "dvcp / flow"]
    rows = []
    for e in entries:
        fps = e["fps"] if e["kind"] == "engine" else e["sequential"]["fps"]
        rows.append([*_where(e), e["kind"], _f(fps, 2), _f(e["flow"]["fps"], 2), _f(e["over_flow"], 3)])
    return ["### dvcp beside DIS-flow propagation (same frames, same process)", "", *_table(head, rows), "",
            "flow: DIS optical flow (OpenCV, medium preset) at full resolution warping the previous chroma, on "
            "the CPU with the same threads, timed frame by frame between dvcp's frames."]


def _long_shot_section(entries: list[dict[str, Any]]) -> list[str]:
    head = ["preset", "input", "scale", "device", "precision", "threads", "frames", "cache MiB", "RSS settled",
            "RSS at end", "growth", "slope MiB / 100 frames", "peak RSS"]
    rows = []
    for e in entries:
        if e["status"] != "measured":
            rows.append(_not_measured(e, len(head)))
            continue
        samples = dict(e["rss_samples_mb"])
        start = e["rss_settled_from_frame"]
        settled = next(mb for frame, mb in e["rss_samples_mb"] if frame >= start)
        rows.append([*_where(e), str(e["frames"]), _f(e["cache_mb"], 0), f"{_f(settled)} (frame {start})",
                     _f(samples[e["frames"]]), _f(e["rss_growth_mb"]), _f(e["rss_slope_mb_per_100_frames"], 2),
                     _f(e["peak_rss_mb"], 0)])
    return ["### Long shot through the filter: RSS (MiB) with a bounded cache", "", *_table(head, rows)]


def markdown(rep: dict[str, Any]) -> str:
    """The report as markdown: engine, where the time goes, FLOPs and floors, filter, peers, long shot."""
    m = rep["machine"]
    lines = [f"Machine: {m['cpu_model']}, {m['cpus']} CPUs, torch {m['torch']}, CUDA: {m['cuda_device'] or 'none'}; "
             f"load average before {_f(m['load_average'][0], 2)}, after {_f(rep['load_average_after'][0], 2)}. "
             f"Weights: {rep['weights']['source']}."]
    entries = rep["entries"]
    of_kind = {kind: [e for e in entries if e["kind"] == kind] for kind in ("engine", "filter", "long_shot")}
    peers = [e for e in entries if e["kind"] in ("engine", "filter") and e["status"] == "measured"]
    curve = rep.get("preset_curve")
    if curve is not None:
        source = f"{len(curve['sequences'])} sequences" if curve["sequences"] else "no data given"
        lines += ["", "### The presets' speed/quality curve", "", *curve["markdown"], "",
                  f"Quality: the evaluation protocol, keyframe 0, on {source}; worst sequence: the lowest "
                  "dvcp − flow at K=80. Speed: through the VapourSynth filter (colorize), frames requested one "
                  "by one, on " + (f"frames of {curve['footage']}" if curve["footage"] else "a synthetic texture")
                  + " scaled to each size; × flow: dvcp's fps over DIS-flow propagation's, timed frame by "
                  "frame in the same process."]
    for section, chosen in ((lambda es: _engine_section(rep, es), of_kind["engine"]),
                            (_filter_section, of_kind["filter"]), (_peers_section, peers),
                            (_long_shot_section, of_kind["long_shot"])):
        if chosen:
            lines += ["", *section(chosen)]
    return "\n".join(lines) + "\n"
