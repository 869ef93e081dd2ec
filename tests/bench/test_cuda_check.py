"""benchmarks/cuda_check.py, the one run prepared for a machine with a CUDA device, on a tiny shot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "cuda_check.py"


def test_cuda_check_runs_and_says_what_it_skipped(tmp_path: Path) -> None:
    out = tmp_path / "check.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--json", str(out), "--size", "64x48", "--frames", "3",
         "--bench-size", "64x48", "--bench-frames", "1"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    result = json.loads(out.read_text())
    assert result["size"] == [64, 48] and result["frames"] == 3
    if torch.cuda.is_available():
        assert result["skipped"] is None and len(result["checks"]) == 6
        assert all(check["passed"] for check in result["checks"])
        assert [e["status"] for e in result["bench"]["entries"]] == ["measured"] * 3
    else:
        assert result["skipped"].startswith("no CUDA device")
        assert result["skipped"] in done.stderr
        assert result["checks"] == [] and result["bench"]["entries"] == []
