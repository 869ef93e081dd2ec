"""Frame sizes dvcp cannot colour are refused before any work: too small for motion, too large for the memory."""

from __future__ import annotations

import re
import resource
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import vapoursynth as vs

import dvcp_plugin
from dvcp_plugin.filters.images import write_image


def _folder(path: Path, count: int, height: int, width: int) -> tuple[Path, Path]:
    """Smooth grey frames of ``height`` × ``width`` and a colour keyframe of that size."""
    rng = np.random.default_rng(0)
    coarse = rng.random((height // 16 + 2, (width + count) // 16 + 2)).astype(np.float32)
    base = (cv2.resize(coarse, (width + count, height)) * 200 + 28).astype(np.uint8)
    path.mkdir()
    for k in range(count):
        write_image(path / f"f{k:02d}.png", np.ascontiguousarray(base[:, k : k + width]))
    key = path.with_name(f"{path.name}-key.png")
    write_image(key, np.ascontiguousarray(np.stack([base[:, :width], base[:, ::-1][:, :width], base[:, :width]], -1)))
    return path, key


@pytest.mark.parametrize(
    ("width", "height", "message"),
    [
        (16, 16, "at chroma_scale 0.5 dvcp works at 8x8, below the 12x12 its motion estimation needs; give frames of "
         "at least 23x23"),
        (20, 20, "at chroma_scale 0.5 dvcp works at 10x10, below the 12x12"),
        # OpenCV's DIS flow crashes the process on these (a segmentation fault, no message at all)
        (200, 24, "at chroma_scale 0.5 dvcp works at 100x12, and its motion estimation needs 16 working pixels "
         "of height for frames 40 or more wide; give frames at least 31 high"),
        (80, 30, "at chroma_scale 0.5 dvcp works at 40x15, and its motion estimation needs 16 working pixels "
         "of height"),
    ],
)
def test_a_clip_too_small_for_motion_estimation_is_refused_before_any_frame(
    tmp_path, weights, run_dvcp, assert_clean_error, width, height, message
):
    source, key = _folder(tmp_path / "small", 3, height, width)
    done = run_dvcp("colorize", source, "-k", f"0={key}", "-o", tmp_path / "out", "--weights", weights)
    assert_clean_error(done, "colorize", f"the clip is {width}x{height}: {message}")
    assert not list((tmp_path / "out").glob("*.png")) if (tmp_path / "out").exists() else True


@pytest.mark.parametrize(("width", "height"), [(24, 24), (32, 24), (78, 32), (64, 30)])
def test_the_smallest_clips_are_coloured(core, weights, width, height):
    clip = core.std.BlankClip(format=vs.GRAY8, width=width, height=height, length=3, color=[90])
    out = dvcp_plugin.colorize(clip, {0: np.full((height, width, 3), (200, 120, 40), np.uint8)}, weights=str(weights))
    assert out.get_frame(2).width == width


def test_a_script_gets_a_vs_error_naming_the_function_and_chroma_scale_1_lowers_the_limit(core, weights):
    small = core.std.BlankClip(format=vs.GRAY8, width=20, height=20, length=3)
    with pytest.raises(vs.Error, match=r"^dvcp\.colorize: the clip is 20x20: at chroma_scale 0\.5 dvcp works at 10x10"):
        dvcp_plugin.colorize(small, {0: np.zeros((20, 20, 3), np.uint8)}, weights=str(weights))
    one = dvcp_plugin.colorize(small, {0: np.zeros((20, 20, 3), np.uint8)}, weights=str(weights), chroma_scale=1.0)
    assert one.get_frame(1).height == 20  # chroma_scale 1 works at 20x20


PROBE = """
import resource, numpy as np, vapoursynth as vs, dvcp_plugin
clip = vs.core.std.BlankClip(format=vs.GRAY8, width=64, height=48, length=2)
dvcp_plugin.colorize(clip, {0: np.zeros((48, 64, 3), np.uint8)}, weights=%r).get_frame(1)
print([int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmSize:")][0])
"""


def test_frames_too_large_for_the_memory_left_are_one_line_naming_chroma_scale_and_device(
    tmp_path, weights, run_dvcp, assert_clean_error
):
    # the address space a dvcp process takes once torch and an engine are loaded, then a limit
    # (ulimit -v) leaving 256 MiB more: far less than a 1080p frame needs (about 1.1 GiB)
    probe = subprocess.run([sys.executable, "-c", PROBE % str(weights)], capture_output=True, text=True, check=True)
    limit = int(probe.stdout.split()[-1]) + 256 * 2**20
    source, key = _folder(tmp_path / "hd", 2, 1080, 1920)

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    done = subprocess.run(
        [sys.executable, "-m", "dvcp_plugin.cli", "colorize", source, "-k", f"0={key}", "-o", tmp_path / "out",
         "--weights", weights],
        capture_output=True, text=True, preexec_fn=limited, timeout=300,
    )
    assert_clean_error(done, "colorize", "not enough memory for 1920x1080 frames at chroma_scale 0.5 on cpu")
    assert "(--chroma-scale 0.25)" in done.stderr and "(--device cuda)" in done.stderr and "=" not in done.stderr
    assert not list((tmp_path / "out").glob("*.png")) if (tmp_path / "out").exists() else True


@pytest.mark.parametrize(
    "failure",
    [
        RuntimeError("[enforce fail at alloc_cpu.cpp:127] . DefaultCPUAllocator: can't allocate memory: you tried "
                     "to allocate 133693440 bytes. Error code 12 (Cannot allocate memory)"),
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB."),
        MemoryError(),
    ],
    ids=["cpu allocator", "cuda", "python"],
)
def test_an_allocation_that_fails_while_colouring_is_one_line_naming_chroma_scale_and_device(
    core, weights, monkeypatch, failure
):
    from dvcp_plugin.runtime.engine import Engine

    def no_memory(*args, **kwargs):
        raise failure

    monkeypatch.setattr(Engine, "chain", no_memory)
    clip = core.std.BlankClip(format=vs.GRAY8, width=64, height=48, length=3, color=[90])
    out = dvcp_plugin.colorize(clip, {0: np.full((48, 64, 3), (200, 120, 40), np.uint8)}, weights=str(weights))
    message = (
        "dvcp.colorize: frame 2: out of memory colouring a 64x48 frame at chroma_scale 0.5 on cpu; lower "
        "chroma_scale (chroma_scale=0.25), use another device (device='cuda'), or free memory"
    )
    with pytest.raises(vs.Error, match=re.escape(message)) as info:
        out.get_frame(2)
    assert "allocate" not in str(info.value) and "MemoryError" not in str(info.value)  # the failure's own words go


def test_too_little_address_space_to_load_torch_is_one_line(tmp_path):
    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1536 * 2**20, 1536 * 2**20))

    done = subprocess.run(
        [sys.executable, "-m", "dvcp_plugin.cli", "colorize", tmp_path, "-k", "0=key.png", "-o", tmp_path / "out"],
        capture_output=True, text=True, preexec_fn=limited, timeout=300,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dvcp: error: cannot load torch and VapourSynth ("), done.stderr
    assert "ulimit -v" in lines[0] and "Traceback" not in done.stderr
