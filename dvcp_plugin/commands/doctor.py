"""``dvcp doctor``: what this installation can do, and what it is missing."""

from __future__ import annotations

import argparse
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import urlparse

from ..errors import DvcpError
from ..hookspecs import COMPONENT_KINDS
from ..options import DEFAULT_PRESET, PRESETS, EngineOptions
from ..runtime.engine import Engine
from ..stages.registry import default_registry
from ..stages.weights import WEIGHTS_ENV, find_weights


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options."""


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _devices() -> list[str]:
    import torch

    devices = ["cpu"]
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            devices.append(f"cuda:{index} ({props.name}, {props.total_memory / 2**30:.0f} GiB)")
    else:
        devices.append("no CUDA device visible to torch")
    return devices


def _imagenet_weights() -> list[str]:
    import torch
    import torchvision

    lines = []
    for depth, weights in (
        (18, torchvision.models.ResNet18_Weights.IMAGENET1K_V1),
        (34, torchvision.models.ResNet34_Weights.IMAGENET1K_V1),
    ):
        path = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name
        state = "found" if path.is_file() else f"missing (download {weights.url})"
        lines.append(f"resnet{depth} ImageNet weights: {path} {state}")
    return lines


def run(args: argparse.Namespace) -> int:
    """Print the report; exit 1 when something needed for colorizing is missing."""
    import torch
    import vapoursynth as vs

    problems = 0
    print(f"python       {sys.version.split()[0]} ({sys.executable})")
    print(f"platform     {platform.platform()}")
    print(f"dvcp-plugin  {_version('dvcp-plugin')}")
    print(f"torch        {torch.__version__}")
    print(f"torchvision  {_version('torchvision')}")
    print(f"kornia       {_version('kornia')}")
    print(f"pluggy       {_version('pluggy')}")
    print(f"vapoursynth  core {vs.core.core_version}, API {vs.core.api_version}")
    print(f"bestsource   {'available' if hasattr(vs.core, 'bs') else 'not installed (video files cannot be read)'}")
    detector = "available" if hasattr(vs.core, "scxvid") else "not installed (pip install vapoursynth-scxvid)"
    print(f"scxvid       {detector} (a scene detector: _SceneChangePrev)")
    chain = [name for name in ("akarin", "bm3d") if not hasattr(vs.core, name)]
    filters = "available" if not chain else f"missing {', '.join(chain)} (pip install 'dvcp-plugin[chain]')"
    print(f"chain        {filters} (examples/chain.vpy's deflicker and denoise)")
    print(f"devices      {'; '.join(_devices())}")
    print(
        f"threads      torch {torch.get_num_threads()}, vapoursynth core {vs.core.num_threads}, "
        f"cpus {os.cpu_count()}"
    )
    try:
        registry = default_registry()
        print(f"plugins      {', '.join(registry.plugin_names())}")
        for kind in COMPONENT_KINDS:
            names = sorted(registry.stages(kind))
            print(f"stages       {kind}: {', '.join(names) or 'none registered'}")
    except DvcpError as exc:
        problems += 1
        print(f"stages       ERROR: {exc}")
    for name, preset in PRESETS.items():
        print(f"preset       {name}{' (default)' if name == DEFAULT_PRESET else ''}: {preset.description}")
    try:
        path = find_weights()
    except DvcpError as exc:
        problems += 1
        print(f"weights      MISSING: {exc}")
    else:
        try:  # read, checked for non-finite values and built into the stages they are for
            Engine(EngineOptions(weights=path))
            print(f"weights      {path} (override with weights=PATH or ${WEIGHTS_ENV})")
        except DvcpError as exc:
            problems += 1
            print(f"weights      BROKEN: {exc}")
    for line in _imagenet_weights():
        print(f"optional     {line}")
    print("status       " + ("ready" if not problems else f"{problems} problem(s) above"))
    return 1 if problems else 0
