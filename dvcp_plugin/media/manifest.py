"""The record of a frame folder: what its frames were made from, and each finished frame's size and checksum.

Two hidden files in the folder:

* ``.dvcp-run.json``: the settings that decide the frames' pixels (the input's content, the
  keyframe images, the weights, the options), written once per run;
* ``.dvcp-frames.jsonl``: one line per finished frame, ``{"name", "size", "sha256"}``, appended
  after the frame has its final name.

Both are replaced atomically (written to ``NAME.partial``, synced, renamed; the partial file is
removed when that fails). A rerun keeps a frame only when its file still has the recorded size and
checksum: a frame that is missing, unrecorded, truncated or changed is written again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from ..filters.files import file_digest, write_all
from .paths import OutputError

SETTINGS_FILE = ".dvcp-run.json"
FRAMES_FILE = ".dvcp-frames.jsonl"
PARTIAL = ".partial"


@dataclass(frozen=True)
class FrameRecord:
    """A finished frame file: its name in the folder, its size in bytes and its SHA-256."""

    name: str
    size: int
    sha256: str

    def matches(self, path: Path) -> bool:
        """Whether the file at ``path`` still has this size and checksum."""
        try:
            return path.stat().st_size == self.size and file_digest(path) == self.sha256
        except OSError:
            return False


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: written whole to ``path.partial``, synced, then renamed."""
    tmp = path.with_name(path.name + PARTIAL)
    try:
        write_all(tmp, text.encode())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


# what made a run's frames besides its settings: another dvcp version or device may round them differently
BUILD = ("dvcp", "device")


def changed_keys(recorded: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
    """The keys whose values differ between recorded and current settings, sorted."""
    return sorted(key for key in {*recorded, *settings} if recorded.get(key) != settings.get(key))


def check_build(recorded: Mapping[str, Any], settings: Mapping[str, Any], other_build: bool, frames: str) -> None:
    """Refuse ``frames`` (their words: "OUT holds frames") made by another dvcp version or on another
    device than this run's, saying which, unless ``other_build``."""
    if other_build or all(recorded.get(key) == settings.get(key) for key in BUILD):
        return

    def build(values: Mapping[str, Any]) -> str:
        version, device = values.get("dvcp"), values.get("device")
        return f"dvcp {version or '(a version that did not record itself)'} on {device or 'an unrecorded device'}"

    raise OutputError(
        f"{frames} made by {build(recorded)}, and this run is {build(settings)}, whose frames may differ slightly; "
        "use --resume-anyway to keep them, or --overwrite to make every frame again"
    )


def settings_changes(
    recorded: Mapping[str, Any], settings: Mapping[str, Any], other_build: bool, frames: str
) -> tuple[list[str], list[str]]:
    """How this run's settings differ from those that made ``frames`` ("OUT holds frames"): the keys
    that differ and the changes in words, the dvcp version and device aside (refused by
    :func:`check_build` unless ``other_build``)."""
    check_build(recorded, settings, other_build, frames)
    recorded = {key: value for key, value in recorded.items() if key not in BUILD}
    settings = {key: value for key, value in settings.items() if key not in BUILD}
    return changed_keys(recorded, settings), describe_changes(recorded, settings)


def describe_changes(recorded: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
    """What differs between recorded and current settings, in words ("the input differs: f3.png changed")."""
    changes = []
    for key in changed_keys(recorded, settings):
        old, new = recorded.get(key), settings.get(key)
        if key == "input" and isinstance(old, dict) and isinstance(new, dict):
            changes.append(f"the input differs: {_changed_input(old, new)}")
        else:
            changes.append(f"{key} differ{'' if key.endswith('s') else 's'}")
    return changes


def _changed_input(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    before = {f[0]: f for f in old.get("files", [])}
    after = {f[0]: f for f in new.get("files", [])}
    for name in sorted(before.keys() | after.keys()):
        if name not in after:
            return f"{name} is gone"
        if name not in before:
            return f"{name} is new"
        if before[name] != after[name]:
            return f"{name} changed"
    return "its kind changed"


class RunRecord:
    """The settings and frame records of one frame folder (see the module doc)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.settings_path = folder / SETTINGS_FILE
        self.frames_path = folder / FRAMES_FILE
        self._journal: IO[str] | None = None

    def recorded_settings(self) -> dict[str, Any] | None:
        """The settings of the run that made the folder's frames; None when there is no readable record."""
        try:
            data = json.loads(self.settings_path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def recorded_frames(self) -> dict[str, FrameRecord]:
        """The frame records by file name; lines that are incomplete (a crash mid-line) are skipped."""
        records: dict[str, FrameRecord] = {}
        try:
            lines = self.frames_path.read_text().splitlines()
        except OSError:
            return records
        for line in lines:
            try:
                record = FrameRecord(**json.loads(line))
            except (ValueError, TypeError):
                continue
            records[record.name] = record
        return records

    def remove_stale(self) -> None:
        """Delete the partial files a crash may have left while replacing the record."""
        for path in (self.settings_path, self.frames_path):
            path.with_name(path.name + PARTIAL).unlink(missing_ok=True)

    def start(self, settings: Mapping[str, Any], kept: Iterable[FrameRecord]) -> None:
        """Record ``settings`` and the frames ``kept``, and open the frame record for appending."""
        write_atomically(self.settings_path, json.dumps(dict(settings), indent=2, sort_keys=True) + "\n")
        write_atomically(self.frames_path, "".join(_line(record) for record in kept))
        try:
            self._journal = open(self.frames_path, "a", encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"cannot write {self.frames_path}: {exc.strerror or exc}") from None

    def add(self, record: FrameRecord) -> None:
        """Record a finished frame (flushed to the operating system at once)."""
        if self._journal is None:
            raise OutputError(f"{self.frames_path} is not open; call start() first")
        try:
            self._journal.write(_line(record))
            self._journal.flush()
        except OSError as exc:
            raise OutputError(f"cannot record {record.name} in {self.frames_path}: {exc.strerror or exc}") from None

    def close(self) -> None:
        """Sync and close the frame record."""
        journal, self._journal = self._journal, None
        if journal is None:
            return
        try:
            journal.flush()
            os.fsync(journal.fileno())
        except OSError as exc:
            raise OutputError(f"cannot write {self.frames_path}: {exc.strerror or exc}") from None
        finally:
            try:
                journal.close()
            except OSError:
                pass  # the data that could be written is; the next run checks every frame anyway


def _line(record: FrameRecord) -> str:
    return json.dumps(asdict(record), sort_keys=True) + "\n"
