"""The temporary folders checkpoints are spilled to, and their removal however the process ends.

A folder is ``dvcp-checkpoints-PID-START-XXXXXXXX`` in the system's temporary directory: PID and
START (the process's start time, so that a PID used again later is not taken for it) name the
process that owns it. It is removed

* when the cache that made it is collected, or when the process exits (``weakref.finalize``);
* on SIGTERM, where the process had left SIGTERM to its default action: the folders are removed,
  then the signal is delivered again with that default action, at the latest a few seconds later
  (the command line turns SIGTERM into an orderly stop of its own, which exits through the first
  case);
* by a later dvcp process, when the process named in it is gone (a ``kill -9``, a crash): the
  first cache a process makes looks for such folders and removes them.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from types import FrameType

from . import interrupts

PREFIX = "dvcp-checkpoints-"
TERMINATE_GRACE = 5.0  # seconds SIGTERM may wait for the main thread before the process ends anyway

log = logging.getLogger(__name__)
_lock = threading.Lock()
_live: set[Path] = set()  # this process's folders, for the SIGTERM handler
_swept = False


def _start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot, from /proc); None where it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]  # field 22 of the whole line


def _owner_tag(pid: int) -> str:
    return f"{pid}-{_start_time(pid) or 0}"


def make_spill_folder() -> Path:
    """A new folder for this process's spilled checkpoints (see the module doc); remove it with :func:`remove`."""
    folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{_owner_tag(os.getpid())}-"))
    with _lock:
        _live.add(folder)
    return folder


def remove(folder: Path) -> None:
    """Remove a spill folder of this process and everything in it."""
    with _lock:
        _live.discard(folder)
    shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int, start: str) -> bool:
    """Whether the process that made a folder tagged ``pid``-``start`` still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    now = _start_time(pid)
    return now is None or start == "0" or now == start


def remove_dead(folder: Path | None = None) -> list[Path]:
    """Remove the spill folders in ``folder`` (the temporary directory) whose process is gone; those removed."""
    where = Path(folder or tempfile.gettempdir())
    removed: list[Path] = []
    try:
        entries = list(where.glob(f"{PREFIX}*"))
    except OSError:
        return removed
    for entry in entries:
        pid, _, rest = entry.name.removeprefix(PREFIX).partition("-")
        start = rest.partition("-")[0]
        if not (pid.isdigit() and start.isdigit()) or not entry.is_dir() or _alive(int(pid), start):
            continue  # another program's folder, or one that is in use
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    if removed:
        log.info("removed %d checkpoint folder(s) left by processes that are gone", len(removed))
    return removed


def prepare() -> None:
    """Once per process: remove the folders of dead processes, and remove this process's on SIGTERM.

    The SIGTERM handler is installed only from the main thread, and only where SIGTERM still has its
    default action; a program that handles SIGTERM itself keeps its handler.
    """
    global _swept
    with _lock:
        if _swept:
            return
        _swept = True
    remove_dead()
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)
        interrupts.on_signal(_terminating)


def _remove_live() -> None:
    with _lock:
        folders = list(_live)
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Remove this process's spill folders, then end it as SIGTERM's default action would."""
    _remove_live()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _terminating(signum: int) -> None:
    """SIGTERM seen at once (:mod:`.interrupts`): remove the folders now, and end the process if the
    main thread, busy in C code outside dvcp, does not get to :func:`_on_sigterm` within a few seconds."""
    if signum != signal.SIGTERM:
        return
    _remove_live()
    timer = threading.Timer(TERMINATE_GRACE, os._exit, args=(128 + signal.SIGTERM,))
    timer.daemon = True
    timer.start()
