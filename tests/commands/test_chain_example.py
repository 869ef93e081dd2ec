"""examples/chain.vpy runs under vspipe: scene detection, deflicker, denoise, downscale, dvcp.colorize, upscale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dvcp_plugin.filters.images import write_image
from dvcp_plugin.media.demo_shot import make_shot
from dvcp_plugin.models.color import rgb_to_luma_chroma

CHAIN = Path(__file__).resolve().parents[2] / "examples" / "chain.vpy"


@pytest.fixture(autouse=True)
def _chain_filters() -> None:
    import vapoursynth as vs

    missing = [name for name in ("scxvid", "akarin", "bm3d") if not hasattr(vs.core, name)]
    if missing:
        pytest.skip(f"the chain's filters are not installed ({', '.join(missing)}): pip install '.[chain]'")


def read_y4m(data: bytes) -> tuple[dict[str, str], list[np.ndarray]]:
    """Header fields and the frames (3,H,W) uint16 of a 4:4:4 16-bit YUV4MPEG stream."""
    head, _, body = data.partition(b"\n")
    fields = {f[0]: f[1:] for f in head.decode().split()[1:]}
    width, height = int(fields["W"]), int(fields["H"])
    size = 3 * width * height * 2
    frames = []
    while body:
        marker, _, body = body.partition(b"\n")
        assert marker.startswith(b"FRAME")
        frames.append(np.frombuffer(body[:size], "<u2").reshape(3, height, width))
        body = body[size:]
    return fields, frames


def test_chain_runs_with_vspipe_on_the_sample_shot(weights):
    vspipe = Path(sys.executable).with_name("vspipe")
    run = subprocess.run(
        [str(vspipe), "-c", "y4m", str(CHAIN), "-", "-a", f"weights={weights}"],
        capture_output=True, check=False, timeout=300,
    )
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    fields, frames = read_y4m(run.stdout)
    shot = make_shot()
    assert fields["C"] == "444p16" and (int(fields["W"]), int(fields["H"])) == (shot.shape[2], shot.shape[1])
    assert len(frames) == len(shot)

    # frame 0 carries the keyframe's colours (through the half-size round trip): far nearer than grey
    truth = rgb_to_luma_chroma(torch.from_numpy(shot[0]).permute(2, 0, 1)[None].float() / 255.0, "601")[1][0].numpy()
    chroma = (frames[0][1:].astype(np.float64) - 32768.0) / 65535.0
    assert np.abs(chroma - truth).mean() < 0.25 * np.abs(truth).mean()


def _chain_on_scans(tmp_path: Path, weights: Path, shot: np.ndarray, gains: list[float]) -> tuple[dict, list]:
    """Run the chain under vspipe on ``shot``'s grey frames (each scaled by its gain) saved as scans, with
    frame 0 in colour as the keyframe: the y4m header fields and frames."""
    grey = rgb_to_luma_chroma(torch.from_numpy(shot).permute(0, 3, 1, 2).float() / 255.0, "601")[0][:, 0]
    (tmp_path / "scans").mkdir()
    for k, frame in enumerate(grey):
        scan = (frame * gains[k] * 255.0).round().clamp(0, 255).byte().numpy()
        write_image(tmp_path / "scans" / f"{k:03d}.png", scan)
    write_image(tmp_path / "key.png", shot[0])
    vspipe = Path(sys.executable).with_name("vspipe")
    run = subprocess.run(
        [str(vspipe), "-c", "y4m", str(CHAIN), "-", "-a", f"input={tmp_path / 'scans'}",
         "-a", f"keyframe={tmp_path / 'key.png'}", "-a", f"weights={weights}"],
        capture_output=True, check=False, timeout=300,
    )
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    return read_y4m(run.stdout)


def test_chain_reads_a_frame_folder_and_its_keyframe(tmp_path, weights):
    fields, frames = _chain_on_scans(tmp_path, weights, make_shot(5, 48, 64, seed=2), [1.0] * 5)
    assert (fields["W"], fields["H"], len(frames)) == ("64", "48", 5)


def test_chain_takes_the_flicker_out_of_the_luma_before_dvcp(tmp_path, weights):
    """Frames whose brightness jumps by ±8 % come out of the chain with a steady mean level."""
    shot = make_shot(9, 48, 64, seed=4)
    gains = [1.0, 1.08, 0.92, 1.08, 0.92, 1.0, 1.08, 0.92, 1.0]
    _, frames = _chain_on_scans(tmp_path, weights, shot, gains)
    grey = rgb_to_luma_chroma(torch.from_numpy(shot).permute(0, 3, 1, 2).float() / 255.0, "601")[0][:, 0]
    levels_in = np.array([float(frame.mean()) * gain for frame, gain in zip(grey, gains, strict=True)])
    levels_out = np.array([frame[0].astype(np.float64).mean() / 65535.0 for frame in frames])
    assert np.std(levels_in / levels_in.mean()) > 0.05
    assert np.std(levels_out / levels_out.mean()) < 0.2 * np.std(levels_in / levels_in.mean())
