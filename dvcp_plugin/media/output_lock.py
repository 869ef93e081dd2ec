"""One writer per output: an exclusive lock held while a run writes a frame folder or a video.

The lock is ``fcntl.flock`` on a hidden file beside the output (``.NAME.dvcp-lock``), holding the
PID of the run that has it. A second run asking for it fails at once, naming that PID. The kernel
releases the lock when its process ends, however it ends, so a lock left by a killed run never
blocks the next one. The file is removed when the lock is released (while still held, and a run
that opened the file just before checks that it locked the file that is still there), and so are
the folders made to hold it, when they are still empty.

Locks are advisory and local: runs on other machines writing the same network folder are not
seen by one another where the file system does not pass ``flock`` on (see docs/BATCH.md, Limits).
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from .paths import OutputError

LOCK_SUFFIX = ".dvcp-lock"
_OWNER_WAIT = 0.5  # seconds to wait for a new holder to write its PID into the lock file


def lock_path(output: Path) -> Path:
    """The lock file of ``output``: beside it, named after it, whatever path leads to it."""
    resolved = Path(os.path.abspath(output))
    resolved = resolved.parent.resolve() / resolved.name
    return resolved.parent / f".{resolved.name}{LOCK_SUFFIX}"


class OutputLock:
    """The exclusive lock of one output (a context manager); see the module doc.

    ``what`` names the output in errors ("the output folder", "the output video").
    """

    def __init__(self, output: Path, what: str = "the output") -> None:
        self.output, self.what = output, what
        self.path = lock_path(output)
        self._fd: int | None = None
        self._made: list[Path] = []  # folders made to hold the lock file, outermost first

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock, or raise :class:`OutputError` naming the run that holds it."""
        self._make_folder()
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                self._remove_folders()
                raise OutputError(f"{self.what} {self.output} cannot be written: {exc.strerror or exc}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _owner(fd)
                os.close(fd)
                raise OutputError(
                    f"another dvcp run ({owner}) is writing {self.output}; wait for it to finish, "
                    "or write to another output"
                ) from None
            if _same_file(fd, self.path):
                break
            os.close(fd)  # its holder removed it between our open and our lock: lock the new one
        self._fd = fd
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass  # a full disk: the lock holds all the same, and the run meets the disk's error itself

    def release(self) -> None:
        """Remove the lock file and let the lock go (nothing happens when it is not held)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass  # a lock file left behind blocks nobody: its lock goes with this descriptor
        os.close(fd)
        self._remove_folders()

    def _make_folder(self) -> None:
        """Make the folders that hold the lock file, remembering those made here."""
        missing = []
        folder = self.path.parent
        while not folder.exists() and folder != folder.parent:
            missing.append(folder)
            folder = folder.parent
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                self._remove_folders()
                raise OutputError(f"{self.what} {self.output} cannot be written: {exc.strerror or exc}") from None
            self._made.append(folder)

    def _remove_folders(self) -> None:
        """Remove the folders made for the lock file that are still empty."""
        while self._made:
            try:
                self._made.pop().rmdir()
            except OSError:
                self._made.clear()  # the run wrote into it: keep it and those around it


def _same_file(fd: int, path: Path) -> bool:
    """Whether the open file ``fd`` is still the file at ``path``."""
    try:
        there = path.stat()
    except FileNotFoundError:
        return False
    here = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _owner(fd: int) -> str:
    """"PID 1234" of the run holding the lock file ``fd``, as it wrote it there."""
    deadline = time.monotonic() + _OWNER_WAIT
    while True:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text.isdigit():
            return f"PID {text}"
        if time.monotonic() > deadline:
            return "PID unknown"
        time.sleep(0.05)
