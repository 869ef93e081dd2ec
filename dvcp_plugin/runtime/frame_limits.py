"""Frame sizes dvcp can colour: not too small for motion estimation, not too large for the memory there is.

Both are checked when a clip is given, before any work, and an allocation that fails anyway
while a frame is coloured is reported in the same words: one line naming ``chroma_scale`` and the
device, the two choices that change what a frame needs.

The memory a frame needs was measured (peak RSS over the first frames, one thread, the shipped
stages): about 1.9 kB per pixel of the chroma working resolution (the networks, motion and
matching there) and 0.13 kB per input pixel (luma, output planes, upscaling). A 1920×1080 clip at
``chroma_scale`` 0.5 needs about 1.2 GB beyond what the process already holds, 0.5 GB at 0.25.
The check refuses only what is short of that estimate (less than it is available), so it never
stands in the way of a run that could work; what it lets through and still fails is caught as an
allocation error where Python can catch it.
"""

from __future__ import annotations

import math
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from ..errors import DvcpError

# OpenCV's DIS optical flow, which the built-in motion estimates use at the working resolution,
# refuses images with both sides below 12 pixels, and crashes the process (a segmentation fault)
# on images under 16 pixels high and 40 or more wide (measured: 12x36 works, 12x40 and 15x40 crash)
MIN_WORKING_SIDE = 12
MIN_WIDE_WORKING_HEIGHT = 16
WIDE = 40
BYTES_PER_WORKING_PIXEL = 1800  # a little under the measured 1.9 kB: the check refuses only what cannot fit
BYTES_PER_INPUT_PIXEL = 120
_ALLOCATION_FAILURES = ("can't allocate memory", "not enough memory", "out of memory", "cannot allocate memory")


class FrameSizeError(DvcpError):
    """A frame size that dvcp cannot colour here: too small, or too large for the memory there is."""


def _size(count: int) -> str:
    return f"{count / 2**30:.1f} GiB" if count >= 2**30 // 10 else f"{count / 2**20:.0f} MiB"


def _advice(chroma_scale: float, device: str) -> str:
    return f"chroma_scale {chroma_scale:g} on {device}"


def check_frame_size(height: int, width: int, chroma_scale: float, device: str) -> None:
    """Raise :class:`FrameSizeError` when ``height`` × ``width`` frames cannot be coloured here."""
    work_h, work_w = round(height * chroma_scale), round(width * chroma_scale)
    working = f"at chroma_scale {chroma_scale:g} dvcp works at {work_w}x{work_h}"
    if min(work_h, work_w) < MIN_WORKING_SIDE:
        least = math.ceil((MIN_WORKING_SIDE - 0.5) / chroma_scale)
        raise FrameSizeError(
            f"the clip is {width}x{height}: {working}, below the {MIN_WORKING_SIDE}x{MIN_WORKING_SIDE} its motion "
            f"estimation needs; give frames of at least {least}x{least}, or a larger chroma_scale (at most "
            "chroma_scale=1)"
        )
    if work_h < MIN_WIDE_WORKING_HEIGHT and work_w >= WIDE:
        least = math.ceil((MIN_WIDE_WORKING_HEIGHT - 0.5) / chroma_scale)
        raise FrameSizeError(
            f"the clip is {width}x{height}: {working}, and its motion estimation needs {MIN_WIDE_WORKING_HEIGHT} "
            f"working pixels of height for frames {WIDE} or more wide; give frames at least {least} high, or a "
            "larger chroma_scale (at most chroma_scale=1)"
        )
    need = frame_bytes(height, width, chroma_scale)
    free = available_bytes(device)
    if free is not None and free < need:
        raise FrameSizeError(
            f"not enough memory for {width}x{height} frames at {_advice(chroma_scale, device)}: they need about "
            f"{_size(need)} and {_size(free)} are free; lower chroma_scale "
            "(chroma_scale=0.25), use another device (device='cuda'), or free memory (a memory limit such as "
            "ulimit -v counts too)"
        )


def frame_bytes(height: int, width: int, chroma_scale: float) -> int:
    """The memory colouring ``height`` × ``width`` frames takes beyond what the process holds (see the module doc)."""
    work = round(height * chroma_scale) * round(width * chroma_scale)
    return BYTES_PER_WORKING_PIXEL * work + BYTES_PER_INPUT_PIXEL * height * width


def available_bytes(device: str) -> int | None:
    """The memory free for this process on ``device``; None when it cannot be told."""
    if device.startswith("cuda"):
        try:
            return int(torch.cuda.mem_get_info(torch.device(device))[0])
        except (RuntimeError, AssertionError, ValueError):
            return None
    limits = [value for value in (_meminfo_available(), _address_space_left(), _cgroup_left()) if value is not None]
    return min(limits) if limits else None


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _address_space_left() -> int | None:
    """What ``ulimit -v`` (RLIMIT_AS) leaves of this process's address space."""
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit == resource.RLIM_INFINITY:
        return None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return max(0, limit - int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_left() -> int | None:
    """What the process's cgroup (v2) memory limit leaves, where it has one."""
    try:
        line = Path("/proc/self/cgroup").read_text().splitlines()[0]
        group = Path("/sys/fs/cgroup") / line.rpartition(":")[2].lstrip("/")
        limit = (group / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((group / "memory.current").read_text()))
    except (OSError, ValueError, IndexError):
        return None


def is_allocation_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a failed allocation (Python's, torch's on the CPU or on CUDA)."""
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(text in str(exc).lower() for text in _ALLOCATION_FAILURES)


@contextmanager
def allocation_failures(height: int, width: int, chroma_scale: float, device: str) -> Iterator[None]:
    """Turn a failed allocation inside into one :class:`FrameSizeError` line naming chroma_scale and the device."""
    try:
        yield
    except Exception as exc:
        if not is_allocation_failure(exc):
            raise
        raise FrameSizeError(
            f"out of memory colouring a {width}x{height} frame at {_advice(chroma_scale, device)}; lower "
            "chroma_scale (chroma_scale=0.25), use another device (device='cuda'), or free memory"
        ) from None
