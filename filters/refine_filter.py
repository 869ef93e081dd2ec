"""The stateless refine filter: the refine stage on each frame of a given local and global estimate.

``refine`` uses it for estimates that do not come from one pipeline. The refine function is
injected (the engine's ``refine_full``), as ``produce`` is in :mod:`dvcp_plugin.filters.chroma_filter`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import vapoursynth as vs

from .chroma_filter import Estimate, chroma_filter
from .convert import CONFIDENCE_PROP, LumaReader, OutputWriter, frame_chroma, to_444

# refine(grey (H,W), local (2,H,W), global (2,H,W), confidence (H,W)) -> chroma (2,H,W), full resolution
Refine = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def refine_filter(
    clip: vs.VideoNode,
    local: vs.VideoNode,
    global_: vs.VideoNode,
    refine: Refine,
    writer: OutputWriter,
) -> vs.VideoNode:
    """Frame n: ``refine`` of the clip's luma and the chroma of ``local``'s and ``global_``'s frame n.

    The confidence is ``global_``'s ``DvcpConfidence`` when it has the clip's size, else 1. The
    callback holds ``refine`` (and so whatever it belongs to) as long as the node lives.
    """
    matrix = writer.matrix
    luma = LumaReader(clip.format, matrix)

    def produce(n: int, frames: Sequence[vs.VideoFrame]) -> Estimate:
        source, local_frame, global_frame = frames
        grey = luma(source)
        conf_frame = global_frame.props.get(CONFIDENCE_PROP)
        if isinstance(conf_frame, vs.VideoFrame) and (conf_frame.height, conf_frame.width) == tuple(grey.shape):
            confidence = torch.from_numpy(np.array(conf_frame[0], dtype=np.float32))
        else:
            confidence = torch.ones_like(grey)
        return Estimate(refine(grey, frame_chroma(local_frame, matrix), frame_chroma(global_frame, matrix), confidence))

    return chroma_filter(clip, produce, writer, "refine", inputs=[to_444(local), to_444(global_)])
