"""ImageNet weights for the resnet global stages reach the stage through stage_options, from a script and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
import vapoursynth as vs

import dvcp_plugin
from dvcp_plugin.filters.images import read_image


@pytest.fixture(scope="module")
def imagenet_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ResNet-18 state dict in torchvision's layout (random weights: nothing is downloaded)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("imagenet") / "resnet18-random.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    return path


def test_imagenet_weights_through_stage_options(
    tmp_path, imagenet_like, weights, grey_folder, dvcp_in_process, monkeypatch
):
    monkeypatch.setattr("torch.hub.get_dir", lambda: str(tmp_path / "empty-hub"))  # not found in the cache
    clip = vs.core.std.BlankClip(format=vs.GRAY8, width=64, height=48, length=3, color=[100])
    key = np.dstack([np.full((48, 64), v, np.uint8) for v in (200, 90, 40)])
    with pytest.raises(vs.Error, match="ImageNet weights for ResNet-18 not found"):
        dvcp_plugin.colorize(clip, {0: key}, weights=str(weights), global_stage="resnet18", threads=1)
    out = dvcp_plugin.colorize(
        clip, {0: key}, weights=str(weights), global_stage="resnet18", threads=1,
        stage_options={"global": {"imagenet_weights": imagenet_like}},
    )
    assert out.get_frame(2).format.name == "YUV444P16"

    source, key_path = grey_folder(count=3)
    done = dvcp_in_process(
        "colorize", source, "-k", f"0={key_path}", "-o", tmp_path / "out", "--weights", weights,
        "--global-stage", "resnet18", "--stage-options", f'{{"global": {{"imagenet_weights": "{imagenet_like}"}}}}',
    )
    assert done.returncode == 0, done.stderr
    assert read_image(tmp_path / "out" / "f02.png").shape == (48, 64, 3)
