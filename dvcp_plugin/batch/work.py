"""What a worker is given to do and what it reports back: parts of shots, reels to reassemble."""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DvcpError
from ..options import Options, OutputOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Part:
    """A shot as one worker colours it: frames of an input, keyframes counted from the first, an output."""

    name: str
    input: Path
    frames: tuple[int, int] | None  # first and last frame of the input; None: all of it
    keyframes: dict[int, Path]
    output: Path
    options: Options = field(default_factory=Options)
    output_options: OutputOptions = field(default_factory=OutputOptions)
    reel: Path | None = None  # the reel's output, when this part is reassembled into one
    other_build: bool = False  # keep frames an earlier run made with another dvcp version or on another device

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
    status: str  # done (frames written), skipped (finished by an earlier run) or failed
    frames: int = 0  # frames of the part
    written: int = 0  # frames written by this run
    kept: int = 0  # frames kept from an earlier run
    seconds: float = 0.0
    error: str | None = None  # what went wrong, in a line (a bug: "internal error: ...")
    traceback: str | None = None  # where it went wrong, for a failure


def failed(
    name: str, exc: BaseException, frames: int = 0, seconds: float = 0.0, *, written: int = 0, kept: int = 0
) -> Result:
    """The result of a part or a reassembly that failed with ``exc``; its traceback is kept and logged.

    A ``DvcpError`` is said by its message; anything else is a bug, and says so. ``written`` and
    ``kept`` count the frames this run wrote before it failed and those a rerun keeps.
    """
    text = "".join(traceback.format_exception(exc))
    if isinstance(exc, DvcpError):
        error = str(exc).strip()
        log.warning("%s failed: %s\n%s", name, error, text)
    else:
        error = f"internal error (a bug, not a problem of the shot): {type(exc).__name__}: {exc}"
        log.error("%s failed: %s\n%s", name, error, text)
    return Result(name, "failed", frames, written, kept, seconds, error, text)
