"""The streaming filter: one ``std.ModifyFrame`` per output, fed by an injected ``produce``.

``produce(n, frames)`` returns the chroma of frame n (and, for the global stage, its match
confidence); ``frames`` are the frames VapourSynth fetched for n: the input clip's first, then
those of ``inputs``. It may read other frames with ``clip.get_frame`` (VapourSynth allows this
inside a callback) as long as it holds no lock that another callback waits on. Exceptions become
``vs.Error("dvcp.<function>: frame n: ...")``, and are kept in the node's
:class:`~dvcp_plugin.filters.frame_errors.FrameErrors` when it has one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
import vapoursynth as vs

from dvcp_plugin.errors import DvcpError, about_frame

from .convert import OutputWriter
from .frame_errors import FrameErrors


class Estimate(NamedTuple):
    """Full-resolution chroma (2,H,W) of one frame, and its confidence (H,W) where there is one."""

    chroma: torch.Tensor
    confidence: torch.Tensor | None = None


Produce = Callable[[int, Sequence[vs.VideoFrame]], Estimate]


def chroma_filter(
    clip: vs.VideoNode,
    produce: Produce,
    writer: OutputWriter,
    function: str,
    inputs: Sequence[vs.VideoNode] = (),
    confidence: bool = False,
    errors: FrameErrors | None = None,
) -> vs.VideoNode:
    """A clip of ``writer.format``: ``clip``'s luma and properties with the produced chroma.

    With ``confidence``, every frame carries its confidence map as a GRAYS frame in the property
    ``DvcpConfidence``. A :class:`DvcpError` is reported by its message alone; any other exception
    (a bug) keeps its traceback. Both are kept in ``errors``; a ``vs.Error`` (a frame of another
    node that could not be made) goes on as it is.
    """
    core = vs.core
    blank = core.std.BlankClip(clip, format=writer.format.id, keep=True)
    clips = [blank, clip, *inputs]
    if confidence:
        clips.append(core.std.BlankClip(clip, format=vs.GRAYS, keep=True))

    def select(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        try:
            estimate = produce(n, f[1 : 2 + len(inputs)])
            conf = (f[-1], estimate.confidence) if confidence and estimate.confidence is not None else None
            return writer.write(f[0], f[1], estimate.chroma, conf)
        except vs.Error:
            raise
        except Exception as exc:
            if errors is not None:
                errors.record(n, exc)
            if isinstance(exc, DvcpError):  # the message says it all
                raise vs.Error(f"dvcp.{function}: {about_frame(n, exc)}") from None
            raise vs.Error(f"dvcp.{function}: {about_frame(n, exc)}") from exc  # a bug keeps its traceback

    return core.std.ModifyFrame(clip=blank, clips=clips, selector=select)
