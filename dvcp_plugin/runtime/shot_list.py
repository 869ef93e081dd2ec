"""The shots of a clip: where its scene changes cut it, and the keyframes each shot holds.

A frame with ``_SceneChangePrev=1`` starts a new shot. A shot can be coloured when it holds a
keyframe, at any of its frames. With ``unkeyed_cuts="continue"`` a scene change bounds a shot
only when the shot it starts holds a keyframe and a keyframe lies before it, as in
:class:`~dvcp_plugin.runtime.shot_map.ShotMap`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import vapoursynth as vs

from ..filters.keyframes import key_positions


@dataclass(frozen=True)
class Shot:
    """Frames ``first`` to ``last`` of a clip, and the keyframes among them."""

    first: int
    last: int
    keyframes: tuple[int, ...]

    @property
    def frames(self) -> int:
        """How many frames the shot has."""
        return self.last - self.first + 1

    @property
    def keyed(self) -> bool:
        """Whether the shot can be coloured: it holds a keyframe."""
        return bool(self.keyframes)


def scene_changes(clip: vs.VideoNode, in_flight: int) -> list[int]:
    """The frames after 0 whose ``_SceneChangePrev`` is set (every frame is requested, ``in_flight`` at once)."""
    return [
        n for n, frame in enumerate(clip.frames(prefetch=max(1, in_flight)))
        if n > 0 and frame.props.get("_SceneChangePrev", 0)
    ]


def split_shots(
    length: int,
    cuts: Iterable[int],
    keyframes: Iterable[int],
    key_at: Callable[[int], bool] | None = None,
    unkeyed_cuts: str = "error",
) -> list[Shot]:
    """The shots of a clip of ``length`` frames cut at ``cuts``, with the keyframes of each.

    A cut where ``key_at`` says a keyframe can be read (a keyframe clip) takes its keyframe there.
    """
    keys = set(keyframes)
    cuts = sorted(cut for cut in set(cuts) if 0 < cut < length)
    keys.update(cut for cut in cuts if key_at is not None and key_at(cut))
    firsts = [0]
    for i, cut in enumerate(cuts):
        end = cuts[i + 1] if i + 1 < len(cuts) else length
        if unkeyed_cuts == "error" or (any(cut <= k < end for k in keys) and any(k < cut for k in keys)):
            firsts.append(cut)
    lasts = [n - 1 for n in firsts[1:]] + [length - 1]
    return [
        Shot(first, last, tuple(sorted(k for k in keys if first <= k <= last)))
        for first, last in zip(firsts, lasts, strict=True)
    ]


def list_shots(clip: vs.VideoNode, keyframes: Any, keyframe_frames: list[int] | None, unkeyed_cuts: str) -> list[Shot]:
    """The shots of ``clip`` and the keyframes each holds, as ``dvcp_plugin.shots`` lists them.

    ``keyframes`` and ``keyframe_frames`` are those of ``dvcp_plugin.colorize`` (positions only;
    None: no keyframes). Bad keyframes are a ``DvcpError``; a frame of ``clip`` that cannot be read
    is VapourSynth's ``vs.Error``, as it is.
    """
    positions, key_at = key_positions(keyframes, clip, keyframe_frames)
    return split_shots(clip.num_frames, scene_changes(clip, vs.core.num_threads), positions, key_at, unkeyed_cuts)
