"""What every benchmark measurement uses: its configuration, a clock, memory readings, the shot it colours
(synthetic frames, or real footage scaled to the size measured)."""

from __future__ import annotations

import math
import resource
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch

from ..errors import DvcpError
from ..media.frames import image_files
from ..models.color import grey_u8, rgb_to_luma_chroma
from ..options import DEFAULT_PRESET
from ..training.data import load_frame

KINDS = ("engine", "filter", "long_shot")
# stage timings of an engine entry, in the order a frame runs them; "motion" is the time spent in
# motion estimators (by the local plan and the global stage), which those two then leave out
STEP_STAGES = ("downscale", "motion", "local_plan", "global", "local_apply", "refine", "upscale")


@dataclass(frozen=True)
class BenchConfig:
    """One configuration to measure; the kinds are described in :mod:`dvcp_plugin.bench.measure`."""

    kind: str
    width: int
    height: int
    chroma_scale: float | None  # None: the preset's, else the weights file's
    weights: str
    device: str = "cpu"
    half: bool = False
    threads: int = 1
    frames: int = 3  # timed frames (long_shot: frames streamed)
    warmup: int = 1
    prefetch: int = 4  # filter: requests in flight
    cache_mb: float = 1024  # filter and long_shot: the colorize cache bound
    preset: str = DEFAULT_PRESET
    footage: str | None = None  # a folder of colour frames to colour (scaled to the size); None: a texture
    exhaustive_pairs: int = 4 * 10**9  # engine: most query·key pairs timed by the exhaustive reference

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise DvcpError(f"unknown benchmark kind {self.kind!r}; use one of {', '.join(KINDS)}")
        if self.width < 8 or self.height < 8:
            raise DvcpError(f"benchmark size {self.width}x{self.height} is too small; use at least 8x8")
        if self.frames < 1 or self.warmup < 0 or self.threads < 1 or self.prefetch < 1:
            raise DvcpError("frames, threads and prefetch must be positive and warmup not negative")


@dataclass
class Clock:
    """Wall-clock timing that waits for the device's queued work, with the process's CPU time beside it."""

    device: torch.device
    samples: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)  # CPU ms of all the process's threads
    spent: float = 0.0  # milliseconds accumulated by timed callees (the motion estimators)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextmanager
    def time(self, name: str, record: bool = True) -> Iterator[None]:
        self.sync()
        start, cpu_start = time.perf_counter(), time.process_time()
        yield
        self.sync()
        if record:
            self.samples.setdefault(name, []).append((time.perf_counter() - start) * 1000.0)
            self.cpu.setdefault(name, []).append((time.process_time() - cpu_start) * 1000.0)

    def median(self, name: str) -> float:
        return statistics.median(self.samples[name])

    def rate(self, name: str) -> dict[str, float]:
        """Median milliseconds per call of ``name``, its fps, and the median CPU milliseconds."""
        ms = self.median(name)
        return {"ms": ms, "fps": 1000.0 / ms, "cpu_ms": statistics.median(self.cpu[name])}


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    """Resident set size of this process now, in MiB."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_gpu_mb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def texture(n: int, height: int, width: int) -> np.ndarray:
    """Frame ``n`` of a grey texture moving 2 px right per frame: float32 (H,W) in [0.1, 0.9]."""
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    wave = np.sin((xx - 2 * n) / 7.0) * np.cos(yy / 11.0) + 0.5 * np.sin((xx + yy - 2 * n) / 17.0)
    return 0.5 + 0.4 * wave / 1.5


def key_rgb(height: int, width: int) -> np.ndarray:
    """A smooth colour keyframe, uint8 (H,W,3), whose luma follows frame 0 of :func:`texture`."""
    grey = texture(0, height, width)
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    tint = np.stack([np.sin(xx / width * math.pi), np.cos(yy / height * math.pi), np.sin((xx + yy) / 97.0)], -1)
    return np.clip(255.0 * (grey[..., None] + 0.15 * tint), 0, 255).astype(np.uint8)


def key_chroma(height: int, width: int) -> torch.Tensor:
    """The zero-centred BT.601 chroma (2,H,W) of :func:`key_rgb`."""
    rgb = torch.from_numpy(key_rgb(height, width)).permute(2, 0, 1).float() / 255.0
    return rgb_to_luma_chroma(rgb[None], "601")[1][0]


def greys(count: int, height: int, width: int) -> list[torch.Tensor]:
    """Frames 0 .. count-1 of :func:`texture` as tensors: the shot every measurement colours."""
    return [torch.from_numpy(texture(n, height, width)) for n in range(count)]


class Shot(NamedTuple):
    """The shot a measurement colours: greys (H,W) in [0, 1] holding 8-bit values, and its keyframe (frame
    0) as RGB uint8 (H,W,3) and as zero-centred chroma (2,H,W)."""

    greys: list[torch.Tensor]
    key_rgb: np.ndarray
    key_chroma: torch.Tensor


def shot(config: BenchConfig, count: int) -> Shot:
    """``count`` frames of ``config.footage`` scaled to the configuration's size, or of :func:`texture`."""
    height, width = config.height, config.width
    if config.footage is None:
        return Shot(greys(count, height, width), key_rgb(height, width), key_chroma(height, width))
    files = image_files(Path(config.footage))
    if len(files) < count:
        raise DvcpError(f"benchmark footage {config.footage} has {len(files)} frames; {count} are needed")
    rgbs = [cv2.resize(load_frame(path), (width, height), interpolation=cv2.INTER_AREA) for path in files[:count]]
    frames = [torch.from_numpy(grey_u8(rgb)).float() / 255.0 for rgb in rgbs]
    rgb = torch.from_numpy(rgbs[0]).permute(2, 0, 1).float() / 255.0
    return Shot(frames, rgbs[0], rgb_to_luma_chroma(rgb[None], "601")[1][0])
