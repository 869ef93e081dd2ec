"""Requesting frames of a clip with several in flight and handing them, in order, to a writer."""

from __future__ import annotations

import re
import sys
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Protocol

import vapoursynth as vs
from tqdm import tqdm

from ..errors import DvcpError


class RenderError(DvcpError):
    """A frame that could not be made; the message is the error's own, without a Python traceback."""


Progress = Callable[[int], None]  # called with each frame's number once it is written


class FrameSink(Protocol):
    """Where rendered frames go: an image folder or a video file."""

    def write(self, n: int, frame: vs.VideoFrame) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


_TRACEBACK = "Traceback (most recent call last):"
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_]\w*\.)*\w*(?:Error|Exception): ")


def error_text(exc: vs.Error) -> str:
    """The message of a VapourSynth error, without the Python traceback that VapourSynth puts in it.

    An exception raised in a Python frame callback reaches the caller as a ``vs.Error`` whose text
    is the whole formatted traceback; the message is its last exception line, without the type.
    """
    text = str(exc).strip()
    if _TRACEBACK not in text:
        return text
    lines = text[text.rindex(_TRACEBACK) :].splitlines()[1:]
    last = max((i for i, line in enumerate(lines) if line and not line[0].isspace()), default=None)
    if last is None:
        return text
    return _EXCEPTION_LINE.sub("", "\n".join(lines[last:])).strip()


def render(
    clip: vs.VideoNode, frames: Sequence[int], sink: FrameSink, in_flight: int, description: str | None = None,
    progress: Progress | None = None,
) -> None:
    """Request ``frames`` of ``clip`` (at most ``in_flight`` at once) and write each, in order, to ``sink``.

    With a ``description``, a progress bar with frames per second and time left goes to stderr;
    ``progress``, when given, is called with each frame's number once the frame is written. On an
    error the sink is aborted (finished frames of a folder stay) and the error is raised; a
    ``vs.Error`` becomes a :class:`RenderError` with its message alone.
    """
    pending: deque[tuple[int, Future[vs.VideoFrame]]] = deque()
    todo = iter(frames)

    def request_next() -> None:
        n = next(todo, None)
        if n is not None:
            pending.append((n, clip.get_frame_async(n)))

    bar = tqdm(
        total=len(frames), desc=description, unit="frame", file=sys.stderr, dynamic_ncols=True,
        disable=description is None,
    )
    with bar:
        try:
            for _ in range(max(1, in_flight)):
                request_next()
            while pending:
                n, future = pending.popleft()
                frame = future.result()
                request_next()
                sink.write(n, frame)
                bar.update(1)
                if progress is not None:
                    progress(n)
            sink.close()
        except BaseException as exc:
            sink.abort()
            if not isinstance(exc, KeyboardInterrupt):
                for _, future in pending:  # let frames already asked for finish before the caller moves on
                    future.exception()
            if isinstance(exc, vs.Error):
                raise RenderError(error_text(exc)) from None
            raise
