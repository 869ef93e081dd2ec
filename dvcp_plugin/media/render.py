"""Requesting frames of a clip with several in flight and handing them, in order, to a writer."""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Protocol

import vapoursynth as vs
from tqdm import tqdm

from ..errors import DvcpError, about_frame


class RenderError(DvcpError):
    """Frame ``n`` of a clip could not be made; ``error`` (a message or dvcp's own error) says why."""

    def __init__(self, n: int, error: str | DvcpError) -> None:
        self.n = n
        super().__init__(about_frame(n, error))


Progress = Callable[[int], None]  # called with each frame's number once it is written


class FrameSink(Protocol):
    """Where rendered frames go: an image folder or a video file."""

    def write(self, n: int, frame: vs.VideoFrame) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


def render(
    clip: vs.VideoNode, frames: Sequence[int], sink: FrameSink, in_flight: int, description: str | None = None,
    progress: Progress | None = None,
) -> None:
    """Request ``frames`` of ``clip`` (at most ``in_flight`` at once) and write each, in order, to ``sink``.

    With a ``description``, a progress bar with frames per second and time left goes to stderr;
    ``progress``, when given, is called with each frame's number once the frame is written. On an
    error the sink is aborted (finished frames of a folder stay) and the error is raised; a frame
    that could not be made (a ``vs.Error``) is a :class:`RenderError` naming it.
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
                try:
                    frame = future.result()
                except vs.Error as exc:  # VapourSynth's words, whatever failed (see FrameErrors for dvcp's own)
                    raise RenderError(n, str(exc).strip()) from exc
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
            raise
