"""The summary file of a batch: every shot's frames (written, kept, missing), seconds, frames per
second, status and error (and for a failed shot, the traceback of its failure).

It is JSON, rewritten (atomically) each time a shot finishes, so it shows a long run's progress
and what was done when a run stops early; shots not finished yet have the status ``pending``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DvcpError
from .plan import PlannedShot
from .work import Result


@dataclass(frozen=True)
class ShotRecord:
    """One shot's entry: ``frames`` of the shot, of which ``written`` now and ``kept`` from earlier runs."""

    name: str
    input: str
    output: str
    status: str  # done, skipped, failed or pending
    frames: int = 0
    written: int = 0
    kept: int = 0
    seconds: float = 0.0
    error: str | None = None
    traceback: str | None = None  # where a failed shot failed
    parts: list[dict[str, Any]] = field(default_factory=list)  # a reel's parts and reassembly

    @property
    def missing(self) -> int:
        """Frames of the shot that are neither written by this run nor kept from an earlier one."""
        return max(0, self.frames - self.written - self.kept)

    def to_json(self) -> dict[str, Any]:
        """The entry as the summary file shows it, with the frames missing and frames per second written."""
        data = asdict(self)
        data["missing"] = self.missing
        data["seconds"] = round(self.seconds, 3)
        data["fps"] = round(self.written / self.seconds, 3) if self.written and self.seconds > 0 else None
        if not self.parts:
            del data["parts"]
        if self.traceback is None:
            del data["traceback"]
        return data


def shot_record(planned: PlannedShot, results: Sequence[Result] = (), assembly: Result | None = None) -> ShotRecord:
    """The record of a shot from what its parts and its reassembly reported (or from its plan)."""
    job = planned.job
    if planned.status is not None:
        spans = [p.frames for p in planned.reel.parts if p.frames is not None] if planned.reel else []
        frames = sum(last - first + 1 for first, last in spans)
        kept = frames if planned.status == "skipped" else 0
        return ShotRecord(
            job.name, str(job.input), str(job.output), planned.status, frames=frames, kept=kept, error=planned.error
        )
    steps = [*results, *([assembly] if assembly is not None else [])]
    failed = [r for r in steps if r.status == "failed"]
    if failed:
        status = "failed"
        error = failed[0].error if planned.reel is None else f"{failed[0].name}: {failed[0].error}"
        traceback = failed[0].traceback
    else:
        status = "done" if any(r.written for r in steps) else "skipped"
        error = traceback = None
    return ShotRecord(
        job.name, str(job.input), str(job.output), status,
        frames=sum(r.frames for r in results), written=sum(r.written for r in results),
        kept=sum(r.kept for r in results), seconds=sum(r.seconds for r in steps), error=error, traceback=traceback,
        parts=[_part_json(r) for r in steps] if planned.reel is not None else [],
    )


def _part_json(result: Result) -> dict[str, Any]:
    """A part's or a reassembly's entry (its traceback is the shot's, when it is the one that failed)."""
    data = asdict(result)
    data["missing"] = max(0, result.frames - result.written - result.kept)
    data["seconds"] = round(result.seconds, 3)
    del data["traceback"]
    return data


class Summary:
    """The summary file of one run: a record per shot, written again whenever one changes.

    ``info`` holds facts of the run (the driver adds its workers, ``startup_seconds`` until they
    were all ready and ``seconds`` of colouring after that); ``totals.fps`` is frames written per
    second of colouring.
    """

    def __init__(self, path: Path, planned: Sequence[PlannedShot], info: dict[str, Any]) -> None:
        self.path, self.info = path, info
        self.records = [
            shot_record(p) if p.status is not None
            else ShotRecord(p.job.name, str(p.job.input), str(p.job.output), "pending")
            for p in planned
        ]

    def set(self, index: int, record: ShotRecord) -> None:
        """Record shot ``index``'s outcome and rewrite the file."""
        self.records[index] = record
        self.write()

    def totals(self) -> dict[str, Any]:
        """Shots by status, and frames in all."""
        totals: dict[str, Any] = {"shots": len(self.records)}
        for status in ("done", "skipped", "failed", "pending"):
            totals[status] = sum(r.status == status for r in self.records)
        for key in ("frames", "written", "kept", "missing"):
            totals[key] = sum(getattr(r, key) for r in self.records)
        seconds = self.info.get("seconds")
        totals["fps"] = round(totals["written"] / seconds, 3) if seconds else None
        return totals

    def write(self) -> None:
        """Write the file (through a temporary name, so a reader never sees half of it)."""
        data = {**self.info, "totals": self.totals(), "shots": [r.to_json() for r in self.records]}
        tmp = self.path.with_name(f".{self.path.name}.partial")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(data, indent=2) + "\n")
            os.replace(tmp, self.path)
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(self.path) else ""
            raise DvcpError(f"cannot write the summary {self.path}: {exc.strerror or exc}{where}") from None
