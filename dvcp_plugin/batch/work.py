"""What a worker is given to do and what it reports back: parts of shots, reels to reassemble."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from ..commands.colorize import Options

STATUSES = ("done", "skipped", "failed")  # done: frames written; skipped: finished by an earlier run


@dataclass(frozen=True)
class Part:
    """A shot as one worker colours it: frames of an input, keyframes counted from the first, an output."""

    name: str
    input: Path
    frames: tuple[int, int] | None  # first and last frame of the input; None: all of it
    keyframes: dict[int, Path]
    output: Path
    options: Options = field(default_factory=Options)
    suffix: str | None = None
    fps: Fraction = Fraction(24)
    ffmpeg_args: str | None = None
    reel: Path | None = None  # the reel's output, when this part is reassembled into one

    @property
    def span(self) -> str:
        """The part's frames as ``first-last``, zero-padded (its name in a reel's staging and ledger)."""
        assert self.frames is not None
        return f"{self.frames[0]:06d}-{self.frames[1]:06d}"


@dataclass(frozen=True)
class Reel:
    """A shot with cuts: its parts, coloured apart, are reassembled in order into ``output``."""

    output: Path
    parts: tuple[Part, ...]
    ffmpeg_args: str | None = None


@dataclass(frozen=True)
class Result:
    """What a worker reports for a part or a reassembly."""

    name: str
    status: str  # one of STATUSES
    frames: int = 0  # frames of the part
    written: int = 0  # frames written by this run
    kept: int = 0  # frames kept from an earlier run
    seconds: float = 0.0
    error: str | None = None
