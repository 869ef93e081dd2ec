"""Requesting frames of a clip with several in flight and handing them, in order, to a writer."""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Protocol

import vapoursynth as vs
from tqdm import tqdm


class FrameSink(Protocol):
    """Where rendered frames go: an image folder or a video file."""

    def write(self, n: int, frame: vs.VideoFrame) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


def render(
    clip: vs.VideoNode, frames: Sequence[int], sink: FrameSink, in_flight: int, description: str,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Request ``frames`` of ``clip`` (at most ``in_flight`` at once) and write each, in order, to ``sink``.

    A progress bar with frames per second and time left goes to stderr, unless ``progress`` is
    given: then it is called with each frame's number once the frame is written, and no bar is
    drawn. On an error the sink is aborted (finished frames of a folder stay) and the error is
    raised; ``vs.Error`` keeps its text.
    """
    pending: deque[tuple[int, Future[vs.VideoFrame]]] = deque()
    todo = iter(frames)

    def request_next() -> None:
        n = next(todo, None)
        if n is not None:
            pending.append((n, clip.get_frame_async(n)))

    with tqdm(
        total=len(frames), desc=description, unit="frame", file=sys.stderr, dynamic_ncols=True,
        disable=progress is not None,
    ) as bar:
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
            raise
