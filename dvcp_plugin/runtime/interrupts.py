"""Stopping dvcp's own work within a frame's time on Ctrl-C or SIGTERM, even inside one long frame request.

VapourSynth's ``get_frame`` waits in C, where Python runs no signal handler: a request that runs a
chain over thousands of frames would go on long after Ctrl-C. :func:`watch` has Python's signal
handler also write each signal's number to a pipe (``signal.set_wakeup_fd``), which a thread of
ours reads at once; every chain step then asks :func:`check` whether a SIGINT or SIGTERM came after
its request began, and if one did the request ends with :class:`Interrupted`. The waiting caller
gets its frame's error, and Python's own handler raises ``KeyboardInterrupt`` (or stops the
process) as soon as the caller's thread runs Python again. Requests made after the signal run as
usual, so a program that catches ``KeyboardInterrupt`` and goes on is not stopped again.

Nothing is changed where the signals are not Python's to see: outside the main thread, or where
the program already uses the wakeup file descriptor for itself (asyncio).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

from ..errors import DvcpError

_lock = threading.Lock()
_watching = False
_signalled_at: float | None = None  # time.monotonic() of the latest SIGINT or SIGTERM
_listeners: list[Callable[[int], None]] = []
STOPPING = (signal.SIGINT, signal.SIGTERM)
_COMPLETION = ("set_result", "set_exception")
_FUTURES = os.path.join("concurrent", "futures", "_base.py")


class Interrupted(DvcpError):
    """A request stopped by Ctrl-C or SIGTERM before its frame was finished."""


def watch() -> None:
    """Start noticing SIGINT and SIGTERM from the main thread (see the module doc); once per process."""
    global _watching
    if threading.current_thread() is not threading.main_thread():
        return
    with _lock:
        if _watching:
            return
        _watching = True
    read, write = os.pipe()
    os.set_blocking(write, False)
    try:
        previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    except ValueError:  # not the main interpreter
        previous = -1
        os.close(read)
        os.close(write)
        return
    if previous != -1:  # the program's own: leave it alone
        signal.set_wakeup_fd(previous)
        os.close(read)
        os.close(write)
        return
    threading.Thread(target=_listen, args=(read,), name="dvcp-signals", daemon=True).start()
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _keyboard_interrupt)


def _keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    """Python's Ctrl-C (``KeyboardInterrupt``), a moment later where it would fall inside a future's completion.

    A frame request stopped by :func:`check` returns to the waiting thread, which then completes the
    request's future in VapourSynth's code: a ``KeyboardInterrupt`` raised right there would leave
    the future incomplete, and the interpreter waiting for it forever at exit. There the signal is
    sent again to this thread once the completion has returned; elsewhere ``KeyboardInterrupt`` is
    raised at once, as Python's own handler raises it.
    """
    if frame is not None and frame.f_code.co_name in _COMPLETION and frame.f_code.co_filename.endswith(_FUTURES):
        completing = frame

        def after_completion(current: FrameType, event: str, arg: object) -> None:
            if event == "return" and current is completing:
                sys.setprofile(None)
                signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # handled at the next instruction

        sys.setprofile(after_completion)
        return
    raise KeyboardInterrupt


def on_signal(listener: Callable[[int], None]) -> None:
    """Have ``listener(signum)`` called (on the watching thread) as soon as SIGINT or SIGTERM arrives."""
    with _lock:
        _listeners.append(listener)


def _listen(read: int) -> None:
    global _signalled_at
    while True:
        try:
            data = os.read(read, 64)
        except OSError:
            return
        if not data:
            return
        for signum in data:
            if signum not in STOPPING:
                continue
            with _lock:
                _signalled_at = time.monotonic()
                listeners = list(_listeners)
            for listener in listeners:
                listener(signum)


def check(since: float) -> None:
    """Raise :class:`Interrupted` when SIGINT or SIGTERM arrived after ``since`` (a ``time.monotonic()``)."""
    at = _signalled_at
    if at is not None and at >= since:
        raise Interrupted("interrupted (Ctrl-C or SIGTERM) before this frame was finished")
