"""Which chains colour a frame: shots, keyframes and the scene changes read so far.

A shot is bounded by scene changes (frames with ``_SceneChangePrev=1``) and the clip's ends, and
may hold any number of keyframes at any of its frames. Each keyframe k starts two chains: a
forward one over the frames after it, up to the next keyframe or the shot's end, and a backward
one over the frames before it, down to the previous keyframe or the shot's start. So a frame
between two keyframes of its shot is reached by two chains, a frame before its shot's first
keyframe by a backward chain alone, and one after its shot's last keyframe by a forward chain
alone.

Scene changes are learnt as frames are read (:meth:`ShotMap.record`). A scene change at a frame
where ``key_at`` says a keyframe can be read (a full-length keyframe clip) becomes a keyframe.
What a scene change does is ``unkeyed_cuts``:

* ``"error"``: every scene change bounds a shot; a shot with no keyframe is a :class:`ShotError`
  naming its first frame.
* ``"continue"`` (scene detectors give false cuts): a scene change bounds a shot only when it
  starts a shot that holds a keyframe and there is a keyframe before it; any other is crossed
  as if it were not there. Between two neighbouring keyframes that is the last scene change.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..errors import DvcpError

KeyAt = Callable[[int], bool]  # key_at(n): whether a keyframe can be read at frame n

_UNKNOWN, _SAME_SHOT, _CUT = 0, 1, 2  # what is known of a frame: nothing, no scene change, a scene change


class ShotError(DvcpError):
    """A frame that no keyframe colours: its shot has no keyframe; the message names the shot's first frame."""

    names_frame = True


@dataclass(frozen=True)
class Chain:
    """The chain that starts at keyframe ``key`` and runs forward (``step`` 1) or backward (-1)."""

    key: int
    step: int

    def checkpointed(self, n: int, interval: int) -> bool:
        """Whether frame ``n`` of this chain is one of its checkpoints (every ``interval``-th frame)."""
        return abs(n - self.key) % interval == 0


@dataclass(frozen=True)
class Route:
    """The chains that reach a frame; a keyframe has none (it is its own colour)."""

    forward: Chain | None = None
    backward: Chain | None = None

    @property
    def chains(self) -> tuple[Chain, ...]:
        """The forward chain then the backward chain, those that reach the frame."""
        return tuple(chain for chain in (self.forward, self.backward) if chain is not None)


class ShotMap:
    """The keyframes and scene changes of a clip of ``length`` frames, learnt as frames are read."""

    def __init__(
        self, length: int, keyframes: Iterable[int], key_at: KeyAt | None = None, unkeyed_cuts: str = "error"
    ) -> None:
        self.keyframes = sorted(set(keyframes))
        if not self.keyframes:
            raise ShotError("no keyframes were given")
        self.length, self.key_at, self.unkeyed_cuts = length, key_at, unkeyed_cuts
        self._frames = bytearray(length)
        if length:
            self._frames[0] = _SAME_SHOT  # nothing comes before frame 0
        self._lock = threading.Lock()

    def record(self, n: int, scene_change: bool) -> None:
        """What reading frame ``n`` told: whether it starts a new shot."""
        with self._lock:
            if self._frames[n] != _UNKNOWN:
                return
            self._frames[n] = _CUT if scene_change else _SAME_SHOT
            if scene_change and self.key_at is not None and self.key_at(n) and n not in self.keyframes:
                bisect.insort(self.keyframes, n)  # the shot found here starts with its own keyframe

    def is_keyframe(self, n: int) -> bool:
        """Whether frame ``n`` is a keyframe (those found at scene changes included)."""
        with self._lock:
            i = bisect.bisect_left(self.keyframes, n)
            return i < len(self.keyframes) and self.keyframes[i] == n

    def scene_change(self, n: int) -> bool:
        """Whether frame ``n`` is known to start a new shot."""
        with self._lock:
            return self._frames[n] == _CUT

    def route(self, n: int) -> Route | range:
        """The chains that reach frame ``n``, or the frames to read first (their scene changes decide).

        A shot without a keyframe is a :class:`ShotError` (with ``unkeyed_cuts="error"``).
        """
        with self._lock:
            keys, frames = self.keyframes, self._frames
            i = bisect.bisect_left(keys, n)
            if i < len(keys) and keys[i] == n:
                return Route()
            a = keys[i - 1] if i > 0 else None
            b = keys[i] if i < len(keys) else None
            low = n + 1 if a is None else a + 1
            high = n if b is None else b  # the frames whose scene changes matter: (a, b]
            unknown = frames.find(_UNKNOWN, low, high + 1)
            if unknown >= 0:
                return range(unknown, high + 1)
            if self.unkeyed_cuts == "continue":
                last = frames.rfind(_CUT, low, high + 1) if a is not None and b is not None else -1
                forward, backward = a is not None and not 0 <= last <= n, b is not None and last <= n
            else:
                forward = a is not None and frames.find(_CUT, low, n + 1) < 0
                backward = b is not None and frames.find(_CUT, n + 1, high + 1) < 0
            if forward or backward:
                return Route(Chain(a, 1) if forward else None, Chain(b, -1) if backward else None)  # type: ignore[arg-type]
            first = frames.rfind(_CUT, 1, n + 1)  # the last scene change at or before n
            unknown = frames.find(_UNKNOWN, max(first, 1), n + 1)
            if unknown >= 0:
                return range(unknown, n + 1)  # a later one may lie among the frames not read yet
        raise ShotError(_unkeyed_message(max(first, 0)))


def _unkeyed_message(first: int) -> str:
    """The error of a shot without a keyframe that starts at frame ``first``."""
    if first:
        start, cut = f"frame {first} starts a new shot (_SceneChangePrev=1) but that shot", f"the cut at frame {first}"
    else:
        start, cut = "the clip's first shot (from frame 0)", "the cut that ends it"
    return (
        f"{start} has no keyframe; give a keyframe in it, or, if {cut} is false, let the shots join "
        "across it (unkeyed_cuts='continue'). dvcp_plugin.shots() and "
        "`dvcp shots` list every shot without a keyframe"
    )
