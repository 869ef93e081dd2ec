"""``dvcp bench``: speed and memory per stage and end to end, as JSON and a markdown table.

Every configuration (kind, input size, chroma scale, device, precision) runs in a fresh
subprocess (``python -m dvcp_plugin.benchmark``), so its peak RSS is its own. CUDA
configurations are listed as "not measured" when torch sees no CUDA device. The report also
gives, per input size and chroma scale, the FLOPs of one frame per stage and the time floor that
an H200's peak rates put under them (see docs/PERFORMANCE.md for what is counted).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..benchmark import KINDS, STEP_STAGES, BenchConfig
from ..errors import DvcpError

SCHEMA = "dvcp-bench/1"
# H200 SXM peak rates (dense, FLOP/s) and memory bandwidth (bytes/s) used for the floors
H200 = {"fp16_tensor": 989e12, "tf32_tensor": 494e12, "fp32": 67e12, "bandwidth": 4.8e12}
NO_CUDA = "not measured: no CUDA device"


def _sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for item in text.split(","):
        try:
            width, height = (int(v) for v in item.lower().split("x"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"size {item!r} must be WIDTHxHEIGHT, e.g. 854x480") from None
        sizes.append((width, height))
    return sizes


def _scales(text: str) -> list[float]:
    try:
        scales = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"scales {text!r} must be numbers separated by commas") from None
    if not all(0.0 < s <= 1.0 for s in scales):
        raise argparse.ArgumentTypeError(f"chroma scales must lie in (0, 1], got {text}")
    return scales


def _kinds(text: str) -> list[str]:
    kinds = text.split(",")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown kind(s) {', '.join(unknown)}; use {','.join(KINDS)}")
    return kinds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Sizes, scales, frames, threads, weights and the output files."""
    parser.add_argument("--sizes", type=_sizes, help="input sizes WxH,... (default 854x480,1920x1080)")
    parser.add_argument("--scales", type=_scales, help="chroma working scales (default 0.25,0.5,1.0)")
    parser.add_argument("--filter-scales", type=_scales,
                        help="chroma scales also measured through the VapourSynth filter (default 0.5)")
    parser.add_argument("--frames", type=int, help="timed frames per configuration (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed frames first (default 1)")
    parser.add_argument("--prefetch", type=int, default=4, help="filter requests in flight (default 4)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's, i.e. the cores)")
    parser.add_argument("--long-shot", type=int, help="frames of the long-shot memory run (default 600)")
    parser.add_argument("--long-shot-size", type=_sizes, help="its input size (default 320x240)")
    parser.add_argument("--long-shot-cache-mb", type=float, default=16, help="its cache bound (default 16)")
    parser.add_argument("--weights", help="weights file (default: the shipped one, else untrained weights)")
    parser.add_argument("--kinds", type=_kinds, default=list(KINDS),
                        help="what to measure: engine,filter,long_shot (default all)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and one frame: a smoke run")
    parser.add_argument("--json", type=Path, help="write the full report as JSON")
    parser.add_argument("--markdown", type=Path, help="write the markdown tables")


def _weights(path: str | None, workdir: Path) -> dict[str, Any]:
    from ..stages.weights import find_weights

    if path is not None:
        return {"path": str(find_weights(path)), "source": "given"}
    try:
        return {"path": str(find_weights()), "source": "shipped"}
    except DvcpError:
        from ..stages.build import untrained_weights
        from ..stages.weights import save_weights

        target = workdir / "untrained.pt"
        save_weights(target, untrained_weights(0))
        return {"path": str(target), "source": "untrained_weights(0): no shipped weights; speed does not "
                                                "depend on weight values"}


def plan(args: argparse.Namespace, weights: str, cuda: bool) -> list[tuple[BenchConfig, str | None]]:
    """Every configuration to measure, with the reason it is not measured (None when it is)."""
    quick = args.quick
    sizes = args.sizes or ([(64, 48)] if quick else [(854, 480), (1920, 1080)])
    scales = args.scales or ([0.5] if quick else [0.25, 0.5, 1.0])
    filter_scales = args.filter_scales or [0.5]
    frames = args.frames or (1 if quick else 3)
    threads = args.threads or _torch_threads()
    long_frames = args.long_shot or (12 if quick else 600)
    long_w, long_h = (args.long_shot_size or [(64, 48) if quick else (320, 240)])[0]
    targets = [("cpu", False, None), ("cuda", False, None if cuda else NO_CUDA),
               ("cuda", True, None if cuda else NO_CUDA)]
    common = {"weights": weights, "threads": threads, "warmup": args.warmup, "prefetch": args.prefetch}
    configs = []
    for kind, kind_scales in (("engine", scales), ("filter", filter_scales)):
        if kind not in args.kinds:
            continue
        for device, half, reason in targets:
            for width, height in sizes:
                for scale in kind_scales:
                    config = BenchConfig(kind=kind, width=width, height=height, chroma_scale=scale,
                                         device=device, half=half, frames=frames, **common)
                    configs.append((config, reason))
    for device, half, reason in targets if "long_shot" in args.kinds else ():
        config = BenchConfig(kind="long_shot", width=long_w, height=long_h, chroma_scale=0.5, device=device,
                             half=half, frames=long_frames, cache_mb=args.long_shot_cache_mb, **common)
        configs.append((config, reason))
    return configs


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def run_config(config: BenchConfig, workdir: Path) -> dict[str, Any]:
    """Measure ``config`` in a fresh Python process and return its result."""
    out = workdir / "result.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, "-m", "dvcp_plugin.benchmark", json.dumps(asdict(config)), str(out)]
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0 or not out.is_file():
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        return {**asdict(config), "status": "failed", "reason": tail[0]}
    return json.loads(out.read_text())


def machine() -> dict[str, Any]:
    """CPU model, cores, torch threads, versions and the CUDA device, if any."""
    import torch

    model = platform.processor()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu_model": model, "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__, "python": platform.python_version(), "cuda_device": cuda,
        "load_average": list(os.getloadavg()),
    }


def floors(flops: dict[str, Any], half: bool) -> dict[str, float]:
    """Milliseconds an H200 needs at least for one frame's counted work (see docs/PERFORMANCE.md).

    Convolutions at the dense tensor rate of the precision (FP16, or TF32 that cuDNN uses for fp32
    convolutions by default); matching (always float32, matmul TF32 off) and the per-pixel
    separable convolution (elementwise) at the FP32 rate; bytes: every conv's input and output
    once, and the separable convolution's inputs and output once.
    """
    conv = flops["local_network"] + flops["global_features"] + flops["refine"]
    scalar = flops["global_match_counted"] + flops["local_sepconv_analytic"]
    rate = H200["fp16_tensor"] if half else H200["tf32_tensor"]
    compute = conv / rate + scalar / H200["fp32"]
    conv_bytes = flops["conv_activation_bytes"] * (0.5 if half else 1.0)  # counted in float32
    moved = conv_bytes + flops["sepconv_min_bytes"] * (0.5 if half else 1.0)
    return {"compute_ms": compute * 1e3, "bandwidth_ms": moved / H200["bandwidth"] * 1e3}


def _engine_ms(entries: list[dict[str, Any]], entry: dict[str, Any]) -> float | None:
    for other in entries:
        if other["kind"] == "engine" and other["status"] == "measured" and all(
            other[k] == entry[k] for k in ("width", "height", "chroma_scale", "device", "half")
        ):
            return other["end_to_end_ms"]
    return None


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
    for entry in entries:
        if entry["kind"] == "filter" and entry["status"] == "measured":
            engine_ms = _engine_ms(entries, entry)
            entry["engine_end_to_end_ms"] = engine_ms
            entry["filter_adds_ms"] = None if engine_ms is None else entry["sequential"]["ms"] - engine_ms
    return {"schema": SCHEMA, **info, "h200_rates": H200, "flops_per_frame": flops_rows, "entries": entries}


def _f(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def _where(e: dict[str, Any]) -> list[str]:
    precision = "fp16" if e["half"] else "fp32"
    return [f"{e['width']}×{e['height']}", f"{e['chroma_scale']:g}", e["device"], precision, str(e["threads"])]


def _not_measured(e: dict[str, Any], width: int) -> list[str]:
    return [*_where(e), e.get("reason", e["status"]), *[""] * (width - 6)]


def _engine_section(rep: dict[str, Any], entries: list[dict[str, Any]]) -> list[str]:
    head = ["input", "scale", "device", "precision", "threads", "working", "end to end", "fps", "CPU ms",
            "downscale", "local", "global features", "global match", "global upsample", "refine", "upscale",
            "keyframe prep", "exhaustive match", "exhaustive / two-stage", "peak RSS MiB", "peak GPU MiB"]
    rows = []
    for e in entries:
        if e["status"] != "measured":
            rows.append(_not_measured(e, len(head)))
            continue
        s = e["stages_ms"]
        scaled = "" if e["exhaustive_rows_timed"] == e["exhaustive_rows"] else " *"
        rows.append([*_where(e), "×".join(str(v) for v in reversed(e["working"])), _f(e["end_to_end_ms"]),
                     _f(e["fps"], 2), _f(e["end_to_end_cpu_ms"]), *(_f(s[name]) for name in STEP_STAGES),
                     _f(s["prepare_key"]), _f(e["exhaustive_match_ms"]) + scaled, _f(e["exhaustive_over_two_stage"]),
                     _f(e["peak_rss_mb"], 0), _f(e["peak_gpu_mb"], 0)])
    lines = ["### Engine, per frame (ms; median of the timed frames)", "", *_table(head, rows), "",
             "CPU ms: CPU time of all the process's threads per frame, end to end; other processes inflate it "
             "less than wall time (OpenMP threads spinning while they wait count in it).", "",
             "\\* exhaustive matching timed on the first rows of queries (whole key grid) and scaled to all "
             "rows; its cost per row is constant.", "", "### Where the time goes (% of the stage sum)", ""]
    share_rows = []
    for e in (e for e in entries if e["status"] == "measured"):
        total = sum(e["stages_ms"][name] for name in STEP_STAGES)
        share_rows.append([*_where(e), *(_f(100 * e["stages_ms"][name] / total, 0) for name in STEP_STAGES)])
    lines += _table(["input", "scale", "device", "precision", "threads", *STEP_STAGES], share_rows)
    flop_head = ["input", "scale", "local net", "sepconv (analytic)", "features", "two-stage match",
                 "exhaustive match (analytic)", "refine", "keyframe prep", "floor fp16 compute",
                 "floor fp16 bytes", "floor fp32 compute", "floor fp32 bytes"]
    flop_rows = []
    for row in rep["flops_per_frame"]:
        f = row["flops"]
        stages = ("local_network", "local_sepconv_analytic", "global_features", "global_match_counted",
                  "exhaustive_match_analytic", "refine", "prepare_key")
        flop_rows.append([f"{row['width']}×{row['height']}", f"{row['chroma_scale']:g}",
                          *(_f(f[k] / 1e9, 2) for k in stages),
                          *(_f(row[p][k], 3) for p in ("h200_floor_fp16", "h200_floor_fp32")
                            for k in ("compute_ms", "bandwidth_ms"))])
    return [*lines, "", "### FLOPs per frame (GFLOP) and H200 floors (ms)", "", *_table(flop_head, flop_rows)]


def _filter_section(entries: list[dict[str, Any]]) -> list[str]:
    head = ["input", "scale", "device", "precision", "threads", "sequential", "fps", "in flight",
            "fps (in flight)", "engine end to end", "filter adds", "peak RSS MiB", "peak GPU MiB"]
    rows = []
    for e in entries:
        if e["status"] != "measured":
            rows.append(_not_measured(e, len(head)))
            continue
        rows.append([*_where(e), _f(e["sequential"]["ms"]), _f(e["sequential"]["fps"], 2),
                     f"{_f(e['in_flight']['ms'])} ({e['prefetch']})", _f(e["in_flight"]["fps"], 2),
                     _f(e["engine_end_to_end_ms"]), _f(e["filter_adds_ms"]), _f(e["peak_rss_mb"], 0),
                     _f(e["peak_gpu_mb"], 0)])
    return ["### Through the VapourSynth filter (colorize), per frame (ms)", "", *_table(head, rows)]


def _long_shot_section(entries: list[dict[str, Any]]) -> list[str]:
    head = ["input", "scale", "device", "precision", "threads", "frames", "cache MiB", "RSS settled",
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
    """The report as markdown: engine, where the time goes, FLOPs and floors, filter, long shot."""
    m = rep["machine"]
    lines = [f"Machine: {m['cpu_model']}, {m['cpus']} CPUs, torch {m['torch']}, CUDA: {m['cuda_device'] or 'none'}; "
             f"load average before {_f(m['load_average'][0], 2)}, after {_f(rep['load_average_after'][0], 2)}. "
             f"Weights: {rep['weights']['source']}."]
    for kind, section in (("engine", lambda es: _engine_section(rep, es)), ("filter", _filter_section),
                          ("long_shot", _long_shot_section)):
        entries = [e for e in rep["entries"] if e["kind"] == kind]
        if entries:
            lines += ["", *section(entries)]
    return "\n".join(lines) + "\n"


def run_plan(
    configs: list[tuple[BenchConfig, str | None]], workdir: Path, progress: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Measure every configuration (each in its own process); unmeasured ones say why."""
    entries = []
    for i, (config, reason) in enumerate(configs, 1):
        where = (f"{config.kind} {config.width}x{config.height} scale {config.chroma_scale:g} {config.device}"
                 f"{' fp16' if config.half else ''}")
        if reason is not None:
            entries.append({**asdict(config), "status": "not measured", "reason": reason})
            continue
        progress(f"[{i}/{len(configs)}] {where}")
        entries.append(run_config(config, workdir))
        if entries[-1]["status"] != "measured":
            progress(f"    failed: {entries[-1]['reason']}")
    return entries


def run(args: argparse.Namespace) -> int:
    """Run the benchmark, print the markdown tables, write the requested files."""
    import torch

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    info: dict[str, Any] = {"command": "dvcp bench " + shlex.join(sys.argv[2:]) if sys.argv[1:2] == ["bench"]
                            else "dvcp bench", "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="dvcp-bench-") as tmp:
        workdir = Path(tmp)
        weights = _weights(args.weights, workdir)
        configs = plan(args, weights["path"], torch.cuda.is_available())
        entries = run_plan(configs, workdir, progress)
    info["weights"] = weights
    info["load_average_after"] = list(os.getloadavg())
    rep = report(entries, info)
    text = markdown(rep)
    print(text, end="")
    if args.json:
        args.json.write_text(json.dumps(rep, indent=1) + "\n")
    if args.markdown:
        args.markdown.write_text(text)
    failed = [e for e in entries if e["status"] == "failed"]
    return 1 if failed else 0
