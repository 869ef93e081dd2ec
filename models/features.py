"""Feature extractors for the global stage: a frozen ImageNet ResNet (as in the paper) or a compact encoder.

Every extractor returns a fine (shallow) and a coarse (deep) feature map. With the padding used here
both are ceil-sized: fine is (ceil(H/fine_stride), ceil(W/fine_stride)) and coarse is
(ceil(H/coarse_stride), ceil(W/coarse_stride)) for any H, W.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlparse

import torch
import torchvision
from torch import Tensor, nn

from dvcp_plugin.errors import DvcpError

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class FeaturePair(NamedTuple):
    """Fine (shallow, high resolution) and coarse (deep, low resolution) features of one frame."""

    coarse: Tensor
    fine: Tensor


class MissingWeightsError(DvcpError, FileNotFoundError):
    """The pretrained weights a feature extractor needs are not on this machine."""


class FeatureExtractor(nn.Module):
    """Interface: map grey (B,1,H,W) in [0,1] to a FeaturePair with the declared strides and channels."""

    coarse_stride: int
    fine_stride: int
    coarse_channels: int
    fine_channels: int

    def forward(self, grey: Tensor) -> FeaturePair:
        """Return the features of ``grey``."""
        raise NotImplementedError


_RESNETS = {
    18: (torchvision.models.resnet18, torchvision.models.ResNet18_Weights.IMAGENET1K_V1),
    34: (torchvision.models.resnet34, torchvision.models.ResNet34_Weights.IMAGENET1K_V1),
}


def default_weights_path(depth: int) -> Path:
    """Where torchvision caches the ImageNet weights of ResNet-``depth``."""
    _, weights = _RESNETS[depth]
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name


def _load_state_dict(path: Path, depth: int) -> dict[str, Tensor]:
    """Load a checkpoint safely, explaining how to obtain it when it is absent."""
    if not path.is_file():
        _, weights = _RESNETS[depth]
        raise MissingWeightsError(
            f"ImageNet weights for ResNet-{depth} not found: looked for {path}. On a machine with internet, "
            f"download {weights.url} and put it in {path.parent} (torchvision's cache folder), "
            f"or give its location as the global stage option imagenet_weights=PATH "
            f"(stage_options={{'global': {{'imagenet_weights': PATH}}}} in a script, "
            f"--stage-options '{{\"global\": {{\"imagenet_weights\": \"PATH\"}}}}' on the command line)."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"cannot read ResNet-{depth} weights from {path}: {error}") from error
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict (found {type(state).__name__})")
    return state


class ResNetFeatures(FeatureExtractor):
    """Frozen ImageNet ResNet-18/34: fine = stem conv1+bn+relu (stride 2, 64 ch), coarse = layer2 (stride 8, 128 ch).

    These follow the paper's "conv1 block" (fine) and "conv3 block" (coarse, torchvision's layer2 =
    conv3_x). Grey input is replicated to three channels and ImageNet-normalised. The network always
    stays in eval mode with gradients disabled.
    """

    coarse_stride = 8
    fine_stride = 2
    coarse_channels = 128
    fine_channels = 64

    mean: Tensor  # ImageNet's, buffers
    std: Tensor

    def __init__(self, depth: int = 18, weights: str | os.PathLike | None = None) -> None:
        super().__init__()
        if depth not in _RESNETS:
            raise ValueError(f"ResNet depth must be one of {sorted(_RESNETS)}, got {depth}")
        path = Path(weights) if weights is not None else default_weights_path(depth)
        state = _load_state_dict(path, depth)
        build, _ = _RESNETS[depth]
        network = build(weights=None)
        try:
            network.load_state_dict(state)
        except RuntimeError as error:
            raise ValueError(f"{path} does not match ResNet-{depth}: {error}") from error
        self.stem = nn.Sequential(network.conv1, network.bn1, network.relu)
        self.deep = nn.Sequential(network.maxpool, network.layer1, network.layer2)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> ResNetFeatures:
        """Stay in eval mode: the pretrained batch-norm statistics are never updated."""
        return super().train(False)

    def forward(self, grey: Tensor) -> FeaturePair:
        """Return (coarse, fine) features of grey (B,1,H,W) in [0,1]."""
        rgb = (grey.expand(-1, 3, -1, -1) - self.mean) / self.std
        fine = self.stem(rgb)
        return FeaturePair(coarse=self.deep(fine), fine=fine)


def _conv_relu(in_channels: int, out_channels: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1), nn.ReLU(inplace=True)]


class CompactEncoder(FeatureExtractor):
    """Small project-trained encoder: fine features at stride 2, coarse at stride 8."""

    coarse_stride = 8
    fine_stride = 2

    def __init__(self, fine_channels: int = 32, coarse_channels: int = 64) -> None:
        super().__init__()
        self.fine_channels = fine_channels
        self.coarse_channels = coarse_channels
        self.shallow = nn.Sequential(*_conv_relu(1, 24, 2), *_conv_relu(24, 24))
        self.fine_head = nn.Conv2d(24, fine_channels, 1)
        self.deep = nn.Sequential(
            *_conv_relu(24, 48, 2), *_conv_relu(48, 48), *_conv_relu(48, 64, 2), *_conv_relu(64, 64)
        )
        self.coarse_head = nn.Conv2d(64, coarse_channels, 1)

    def forward(self, grey: Tensor) -> FeaturePair:
        """Return (coarse, fine) features of grey (B,1,H,W) in [0,1]."""
        shallow = self.shallow(grey)
        return FeaturePair(coarse=self.coarse_head(self.deep(shallow)), fine=self.fine_head(shallow))
