"""Torch devices: checking the one asked for, and naming the hardware a run used."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from ..errors import DvcpError


def resolve_device(device: str, half: bool) -> torch.device:
    """Check that ``device`` exists and supports ``half``; the error says what is wrong."""
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise DvcpError(f"invalid device {device!r}: use 'cpu', 'cuda' or 'cuda:N'") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DvcpError(f"device {device!r} asked for, but torch sees no CUDA device")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DvcpError(
                f"device {device!r} asked for, but torch sees {torch.cuda.device_count()} CUDA device(s)"
            )
    elif dev.type != "cpu":
        raise DvcpError(f"unsupported device {device!r}: use 'cpu', 'cuda' or 'cuda:N'")
    if half and dev.type != "cuda":
        raise DvcpError(
            f"half precision needs a CUDA device, and {device!r} is not one: use a CUDA device, or half=False"
        )
    return dev


def device_name(device: str) -> str:
    """The device a run colours on, as its record names it: ``cpu``, or ``cuda`` and the GPU's model."""
    dev = torch.device(device)
    if dev.type == "cuda" and torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(dev)})"
    return dev.type


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def device_description(device: torch.device) -> str:
    """The processor or GPU a run used, in words."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_model()}, {os.cpu_count()} logical CPUs, {torch.get_num_threads()} torch threads"
