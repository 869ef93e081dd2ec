"""vspipe runs dvcp scripts: y4m on stdout carries only video, with the input's luma."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

from dvcp_plugin.filters.images import write_image

VENV_BIN = Path(sys.executable).parent
VSPIPE = VENV_BIN / "vspipe"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "colorize.vpy"


def _env(tmp_path: Path) -> dict[str, str]:
    """vspipe finds the venv's Python through `vapoursynth config`, kept here under tmp_path."""
    return {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "HOME": str(tmp_path),
    }


def _vspipe(tmp_path: Path, script: Path, *args: str) -> bytes:
    if not VSPIPE.exists():
        pytest.skip(f"vspipe not found at {VSPIPE}")
    command = [str(VSPIPE), "-c", "y4m", *args, str(script), "-"]
    result = subprocess.run(command, capture_output=True, env=_env(tmp_path), timeout=300)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


def _read_y4m(data: bytes) -> tuple[dict[str, str], list[list[np.ndarray]]]:
    """Header fields and the frames (Y, U, V planes) of a 4:4:4 16-bit y4m stream."""
    header, _, body = data.partition(b"\n")
    assert header.startswith(b"YUV4MPEG2 "), header[:40]  # nothing before the stream
    fields = {item[:1]: item[1:] for item in header.decode().split()[1:]}
    width, height = int(fields["W"]), int(fields["H"])
    assert fields["C"] == "444p16"
    plane_bytes = width * height * 2
    frames = []
    while body:
        marker, _, body = body.partition(b"\n")
        assert marker == b"FRAME"
        planes = [
            np.frombuffer(body[i * plane_bytes : (i + 1) * plane_bytes], "<u2").reshape(height, width)
            for i in range(3)
        ]
        frames.append(planes)
        body = body[3 * plane_bytes :]
    return fields, frames


def test_vspipe_writes_colorized_frames_with_the_input_luma(tmp_path, key_image, weights):
    write_image(tmp_path / "key.png", key_image())
    script = tmp_path / "script.vpy"
    script.write_text(textwrap.dedent(f"""
        import numpy as np
        import vapoursynth as vs
        import dvcp_plugin

        core = vs.core
        blank = core.std.BlankClip(format=vs.YUV420P8, width=64, height=48, length=6, keep=True)
        yy, xx = np.mgrid[:48, :64]

        def draw(n, f):
            out = f.copy()
            np.asarray(out[0])[...] = (60 + 3 * n + xx + yy).astype(np.uint8)
            return out

        clip = core.std.ModifyFrame(blank, blank, draw)
        dvcp_plugin.colorize(clip, {{0: {str(tmp_path / "key.png")!r}}}, weights={str(weights)!r},
                             threads=1).set_output()
    """))
    fields, frames = _read_y4m(_vspipe(tmp_path, script))
    assert (fields["W"], fields["H"], len(frames)) == ("64", "48", 6)
    yy, xx = np.mgrid[:48, :64]
    for n, (y, u, v) in enumerate(frames):
        np.testing.assert_array_equal(y, (60 + 3 * n + xx + yy).astype(np.uint16) << 8)
        assert np.ptp(u) > 1000 and np.ptp(v) > 1000  # coloured


def test_example_script_colorizes_an_mp4_for_ffmpeg(tmp_path, key_image, weights):
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg is not installed")
    if not hasattr(vs.core, "bs"):
        pytest.skip("vapoursynth-bestsource is not installed")
    video = tmp_path / "film.mp4"
    subprocess.run(
        [ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=1",
         "-vf", "hue=s=0", "-pix_fmt", "yuv420p", "-c:v", "libx264", str(video)],
        check=True, timeout=120,
    )
    write_image(tmp_path / "key.png", key_image())
    stream = _vspipe(
        tmp_path, EXAMPLE, "-a", f"input={video}", "-a", f"keyframe={tmp_path / 'key.png'}",
        "-a", f"weights={weights}",
    )
    fields, frames = _read_y4m(stream)
    source = vs.core.bs.VideoSource(source=str(video), cachemode=0)
    assert len(frames) == source.num_frames == 10
    for n, (y, _, _) in enumerate(frames):
        np.testing.assert_array_equal(y, np.asarray(source.get_frame(n)[0]).astype(np.uint16) << 8)
    encoded = tmp_path / "colored.mkv"
    subprocess.run(
        [ffmpeg, "-v", "error", "-i", "-", "-c:v", "ffv1", str(encoded)], input=stream, check=True, timeout=120
    )
    assert encoded.stat().st_size > 0
