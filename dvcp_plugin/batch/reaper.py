"""Stopping the Ray processes a batch started on this machine, even when its driver is killed.

``ray.shutdown()`` stops the local Ray instance a driver started, but a driver that dies at once
(``kill -9``, the out-of-memory killer) runs no code: the raylet and GCS follow it, yet Ray's
dashboard and runtime-environment agents stay, children of nobody. So before the driver starts
Ray it starts a reaper (``python -m dvcp_plugin.batch.reaper MARKER``) in a session of its own,
and puts ``MARKER`` in its own environment, which every process Ray starts for it inherits. The
reaper notes, every second, the processes whose environment holds ``MARKER`` and all their
descendants, until its standard input, a pipe from the driver, closes: when the driver ends,
however it ends. It then stops every one of them still running (SIGTERM, then SIGKILL for those
still there a few seconds later), and exits.

This needs ``/proc`` (Linux); elsewhere no reaper is started (see docs/BATCH.md, Limits).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import IO

MARKER_ENV = "DVCP_BATCH_RAY"
GRACE = 5.0  # seconds between SIGTERM and SIGKILL
SCAN_SECONDS = 1.0  # how often the reaper notes the processes of the driver's Ray


class Reaper:
    """The reaper of one driver's local Ray processes (see the module doc)."""

    def __init__(self) -> None:
        self.marker = f"{MARKER_ENV}={os.getpid()}-{uuid.uuid4().hex}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the reaper and mark this process's environment for the Ray processes started after it."""
        if not Path("/proc/self/environ").exists():
            return
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__, self.marker], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in a terminal reaches the driver, not the reaper
        )
        name, _, value = self.marker.partition("=")
        os.environ[name] = value

    def finish(self) -> None:
        """After ``ray.shutdown()``: unmark the environment and let the reaper stop what is left."""
        os.environ.pop(MARKER_ENV, None)
        if self._process is not None:
            stdin: IO[bytes] | None = self._process.stdin
            if stdin is not None:
                stdin.close()
            self._process = None


def marked(marker: str) -> set[int]:
    """The processes (other than this one) whose environment holds ``marker`` (``NAME=VALUE``)."""
    wanted = marker.encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone, or not ours
        if wanted in environ.split(b"\0"):
            found.add(int(entry.name))
    return found


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state, parent, ..., start time at 19)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def family(marker: str) -> dict[int, str]:
    """The marked processes and all their descendants, by PID, with their start times.

    Descendants are found by parent: some of Ray's processes (its agents) write their title over
    their environment, so the marker is not found in them.
    """
    parents: dict[int, list[int]] = {}
    starts: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
            starts[int(entry.name)] = fields[19]
    found: dict[int, str] = {}
    todo = list(marked(marker))
    while todo:
        pid = todo.pop()
        if pid in found or pid not in starts or pid == os.getpid():
            continue
        found[pid] = starts[pid]
        todo.extend(parents.get(pid, ()))
    return found


def _alive(pid: int, start: str) -> bool:
    fields = _stat(pid)
    # a zombie has ended (only its exit status waits for its parent); another start time: another process
    return fields is not None and fields[0] not in ("Z", "X") and fields[19] == start


def reap(processes: dict[int, str]) -> None:
    """Stop ``processes`` (PID: start time): SIGTERM, then SIGKILL after :data:`GRACE` seconds."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        processes = {pid: start for pid, start in processes.items() if _alive(pid, start)}
        for pid in processes:
            try:
                os.kill(pid, signum)
            except OSError:
                pass
        deadline = time.monotonic() + GRACE
        while any(_alive(pid, start) for pid, start in processes.items()) and time.monotonic() < deadline:
            time.sleep(0.1)


def main(argv: list[str]) -> int:
    """Follow the driver's Ray processes until the driver ends (standard input closes), then stop them."""
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)  # a reaper stopped early would leave the processes it is for
    marker = argv[0]
    known: dict[int, str] = {}
    stdin = sys.stdin.fileno()
    while True:
        known.update(family(marker))  # while they are still children of the raylet
        ready, _, _ = select.select([stdin], [], [], SCAN_SECONDS)
        if ready and not os.read(stdin, 4096):
            break
    known.update(family(marker))
    reap(known)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
