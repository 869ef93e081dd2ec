"""``dvcp bench``: the report's structure, the FLOP counts and the command's input checks (no timings)."""

from __future__ import annotations

import argparse
import io
import json
import re
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import torch

from dvcp_plugin import cli
from dvcp_plugin.bench.common import STEP_STAGES, BenchConfig
from dvcp_plugin.bench.engine_bench import measure_engine
from dvcp_plugin.commands import bench
from dvcp_plugin.errors import DvcpError
from dvcp_plugin.stages.build import untrained_weights
from dvcp_plugin.stages.weights import save_weights

SECTIONS = {
    "engine": "### Engine, per frame",
    "filter": "### Through the VapourSynth filter",
    "long_shot": "### Long shot through the filter",
}
PEERS = "### dvcp beside DIS-flow propagation"


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_weights(tmp_path_factory.mktemp("w") / "w.pt", untrained_weights(0))


@pytest.fixture(scope="module")
def matching_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The paper's stages: two-stage hard matching, whose exhaustive reference the bench times."""
    names = {"local": "sepconv", "global": "compact", "refine": "fcn"}
    return save_weights(tmp_path_factory.mktemp("w") / "paper.pt", untrained_weights(0, names))


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory, weights: Path) -> dict:
    """A ``--quick`` run on one thread: its exit status, stdout, JSON and markdown files."""
    out = tmp_path_factory.mktemp("bench")
    args = _parse("--quick", "--threads", "1", "--weights", str(weights),
                  "--json", str(out / "r.json"), "--markdown", str(out / "r.md"))
    stdout = io.StringIO()
    with redirect_stdout(stdout):
        status = bench.run(args)
    return {"status": status, "stdout": stdout.getvalue(), "json": json.loads((out / "r.json").read_text()),
            "markdown": (out / "r.md").read_text()}


def _section_rows(markdown: str, title: str) -> list[str]:
    """The body rows of the table that follows ``title``."""
    lines = markdown.split(title, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def test_bench_is_a_dvcp_command() -> None:
    assert cli.COMMANDS["bench"][0] == "bench"


def test_quick_run_reports_every_configuration(quick: dict) -> None:
    report = quick["json"]
    assert quick["status"] == 0
    assert report["schema"] == "dvcp-bench/2"
    assert {"machine", "weights", "entries", "flops_per_frame", "h200_rates", "load_average_after"} <= set(report)
    assert {"cpu_model", "cpus", "torch_threads", "cuda_device", "load_average"} <= set(report["machine"])
    entries = report["entries"]
    # engine, filter and long shot, each on cpu fp32, cuda fp32 and cuda fp16
    keys = {(e["kind"], e["device"], e["half"]) for e in entries}
    assert len(entries) == len(keys) == 9
    for entry in entries:
        if entry["device"] == "cpu" or torch.cuda.is_available():
            assert entry["status"] == "measured", entry.get("reason")
        else:
            assert entry["status"] == "not measured" and entry["reason"] == "not measured: no CUDA device"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: the CUDA entries are 'not measured'")
def test_cuda_entries_have_their_figures(quick: dict) -> None:
    cuda = [e for e in quick["json"]["entries"] if e["device"] == "cuda"]
    assert {(e["kind"], e["half"]) for e in cuda} == {(k, h) for k in SECTIONS for h in (False, True)}
    assert quick["json"]["machine"]["cuda_device"]
    for entry in cuda:
        assert entry["status"] == "measured", entry.get("reason")
        assert entry["peak_gpu_mb"] > 0, entry
    engines = [e for e in cuda if e["kind"] == "engine"]
    for engine in engines:
        assert engine["end_to_end_ms"] > 0 and engine["fps"] == pytest.approx(1000 / engine["end_to_end_ms"])
        assert set(engine["stages_ms"]) == {"prepare_key", *STEP_STAGES}


def test_engine_entry_has_the_documented_figures(quick: dict) -> None:
    engine = next(e for e in quick["json"]["entries"] if e["kind"] == "engine" and e["device"] == "cpu")
    assert set(engine["stages_ms"]) == {"prepare_key", *STEP_STAGES}
    assert all(ms >= 0 for ms in engine["stages_ms"].values())
    assert engine["end_to_end_ms"] > 0 and engine["fps"] == pytest.approx(1000 / engine["end_to_end_ms"])
    # the default stages estimate motion: its time is measured and is part of the stage sum
    assert engine["stages_ms"]["motion"] > 0 and 0 < engine["motion_share"] < 1
    assert engine["motion_size"] == [48, 64]  # the input's own resolution (within the pixel budget)
    assert engine["peak_rss_mb"] > 0 and engine["peak_gpu_mb"] is None
    assert engine["torch_threads"] == 1
    assert engine["working"] == [24, 32]
    flow = engine["flow"]
    assert flow["ms"] > 0 and flow["fps"] == pytest.approx(1000 / flow["ms"])
    assert engine["over_flow"] == pytest.approx(engine["fps"] / flow["fps"])
    flops = quick["json"]["flops_per_frame"]
    assert len(flops) == 1 and flops[0]["h200_floor_fp16"]["compute_ms"] > 0


def test_filter_and_long_shot_entries(quick: dict) -> None:
    entries = {e["kind"]: e for e in quick["json"]["entries"] if e["device"] == "cpu"}
    filt = entries["filter"]
    sequential, alone, flow = filt["sequential"], filt["engine"], filt["flow"]
    assert sequential["ms"] > 0 and filt["in_flight"]["ms"] > 0 and sequential["cpu_ms"] > 0
    assert alone["ms"] > 0 and alone["cpu_ms"] > 0 and flow["ms"] > 0
    assert filt["filter_adds_ms"] == pytest.approx(sequential["ms"] - alone["ms"])
    assert filt["over_engine"] == pytest.approx(alone["ms"] / sequential["ms"])
    assert filt["over_flow"] == pytest.approx(flow["ms"] / sequential["ms"])
    shot = entries["long_shot"]
    frames = [frame for frame, _ in shot["rss_samples_mb"]]
    assert frames[-1] == shot["frames"] == 12 and frames == sorted(frames)
    assert "rss_slope_mb_per_100_frames" in shot and shot["rss_settled_from_frame"] == 2


def test_markdown_has_a_row_per_entry_and_is_printed(quick: dict) -> None:
    markdown = quick["markdown"]
    assert quick["stdout"] == markdown
    for kind, title in SECTIONS.items():
        rows = _section_rows(markdown, title)
        expected = [e for e in quick["json"]["entries"] if e["kind"] == kind]
        assert len(rows) == len(expected)
        for row, entry in zip(rows, expected, strict=True):
            size = f"{entry['width']}×{entry['height']}"
            where = f"| {entry.get('preset', '–')} | {size} | {entry['chroma_scale']:g} | {entry['device']}"
            assert row.startswith(where)
            if entry["status"] != "measured":
                assert entry["reason"] in row


def test_peers_table_gives_dvcp_over_flow_for_engine_and_filter(quick: dict) -> None:
    measured = [e for e in quick["json"]["entries"] if e["kind"] in ("engine", "filter") and e["status"] == "measured"]
    rows = _section_rows(quick["markdown"], PEERS)
    assert len(rows) == len(measured) == 2
    for row, entry in zip(rows, measured, strict=True):
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[6] == entry["kind"]
        assert float(cells[9]) == pytest.approx(entry["over_flow"], abs=1e-3)


def test_motion_share_of_motion_compensated_stages(tmp_path: Path) -> None:
    names = {"local": "mcsepconv", "global": "compact", "refine": "fusion"}
    path = save_weights(tmp_path / "motion.pt", untrained_weights(0, names))
    result = measure_engine(BenchConfig(kind="engine", width=64, height=48, chroma_scale=0.5, weights=str(path),
                                        frames=1, warmup=0))
    assert result["stage_names"] == names
    assert result["stages_ms"]["motion"] > 0 and 0 < result["motion_share"] < 1
    stage_sum = sum(result["stages_ms"][name] for name in STEP_STAGES)
    assert result["motion_share"] == pytest.approx(result["stages_ms"]["motion"] / stage_sum)
    assert result["motion_size"] == [48, 64]  # motion at the input's own resolution, below the pixel budget


def test_flops_scale_with_the_pixel_count(matching_weights: Path) -> None:
    """Convolutions and the separable convolution scale with pixels; exhaustive matching with pixels²."""
    small, large = (
        measure_engine(BenchConfig(kind="engine", width=w, height=h, chroma_scale=1.0, weights=str(matching_weights),
                                   frames=1, warmup=0, exhaustive_pairs=10**9))["flops"]
        for w, h in ((64, 48), (128, 96))
    )
    for stage in ("local_network", "local_sepconv_analytic", "global_features", "refine", "prepare_key"):
        assert large[stage] == 4 * small[stage] > 0, stage
    assert large["exhaustive_match_analytic"] == 16 * small["exhaustive_match_analytic"]
    # the counted two-stage matmuls equal the analytic count when no cell needs padding
    assert small["global_match_counted"] == small["global_match_analytic"]


def test_exhaustive_reference_is_scaled_from_the_rows_timed(matching_weights: Path) -> None:
    # fine grid 48×64: every query row searches 48·64 keys; the budget covers 3 rows
    config = BenchConfig(kind="engine", width=128, height=96, chroma_scale=1.0, weights=str(matching_weights),
                         frames=1, warmup=0, exhaustive_pairs=(48 * 64) * 64 * 3)
    result = measure_engine(config)
    assert (result["exhaustive_rows_timed"], result["exhaustive_rows"]) == (3, 48)
    assert result["exhaustive_over_two_stage"] > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sizes", "854x"], "must be WIDTHxHEIGHT"),
        (["--scales", "0.5,2"], "must lie in (0, 1]"),
        (["--scales", "half"], "must be numbers"),
        (["--kinds", "engine,gpu"], "unknown kind(s) gpu"),
    ],
)
def test_bad_options_are_named(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parse(*argv)
    assert message in capsys.readouterr().err


def test_bad_configuration_is_a_clear_error(weights: Path) -> None:
    with pytest.raises(DvcpError, match="unknown benchmark kind"):
        BenchConfig(kind="speed", width=64, height=48, chroma_scale=0.5, weights=str(weights))
    with pytest.raises(DvcpError, match="too small"):
        BenchConfig(kind="engine", width=4, height=48, chroma_scale=0.5, weights=str(weights))


def test_markdown_rows_match_entries_of_a_given_report() -> None:
    entries = [
        {"kind": "engine", "width": 854, "height": 480, "chroma_scale": 0.5, "device": "cuda", "half": True,
         "threads": 2, "status": "not measured", "reason": "not measured: no CUDA device"},
    ]
    report = bench.report(entries, {"machine": {"cpu_model": "x", "cpus": 2, "torch": "t", "cuda_device": None,
                                                "load_average": [0.0, 0.0, 0.0]},
                                    "load_average_after": [0.0, 0.0, 0.0], "weights": {"source": "given"}})
    text = bench.markdown(report)
    rows = _section_rows(text, SECTIONS["engine"])
    assert len(rows) == 1 and re.search(r"\| cuda \| fp16 \| 2 \| not measured: no CUDA device", rows[0])
    assert SECTIONS["filter"] not in text and SECTIONS["long_shot"] not in text  # nothing of those kinds


def test_presets_curve_scores_and_times_each_preset_beside_flow_and_the_key_copy(tiny_data, weights, tmp_path):
    """`dvcp bench --presets`: a row per preset, then flow and the keyframe copy; quality from the evaluation of
    --data (the scores `dvcp eval --preset` gives), speed at each size with flow timed in the same run."""
    out = tmp_path / "curve.json"
    stdout = io.StringIO()
    with redirect_stdout(stdout):
        assert cli.main(["bench", "--presets", "--quick", "--data", str(tiny_data / "seq0"), "--weights", str(weights),
                         "--threads", "1", "--json", str(out)]) == 0
    curve = json.loads(out.read_text())["preset_curve"]
    rows = {row["name"]: row for row in curve["curve"]}
    assert list(rows) == ["fast", "balanced", "best", "flow", "key"]
    for name in ("fast", "balanced", "best"):
        speed = rows[name]["speed"]["64x48"]
        assert speed["fps"] > 0 and speed["over_flow"] > 0
        evaluated = tmp_path / f"{name}.json"
        assert cli.main(["eval", str(tiny_data / "seq0"), "--frames", "25", "80", "--json", str(evaluated),
                         "--weights", str(weights), "--preset", name, "--threads", "1", "--baselines", "key"]) == 0
        mean = json.loads(evaluated.read_text())["by_frames"]["80"]["mean"]["dvcp"]
        assert rows[name]["quality"]["psnr_80"] == pytest.approx(mean["psnr"])
        assert rows[name]["quality"]["worst"]["sequence"] == "seq0"  # every preset is set against flow
    assert rows["flow"]["speed"]["64x48"]["over_flow"] == 1.0 and rows["key"]["quality"]["psnr_25"] > 0
    table = [line for line in curve["markdown"] if line.startswith("| ")][1:]
    assert [line.split("|")[1].strip() for line in table] == list(rows)
    assert "\n".join(curve["markdown"]) in stdout.getvalue()
