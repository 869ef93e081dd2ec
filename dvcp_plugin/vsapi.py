"""The VapourSynth functions: ``colorize`` and its three stages as streaming filters.

Every function takes the clip first and returns a ``vs.VideoNode``; bad input is a ``vs.Error``
naming the function. ``local_propagate``, ``global_match`` and ``colorize`` on the same clip, equal
keyframes and equal options share one pipeline (see :mod:`dvcp_plugin.runtime.pipeline`): each frame's
estimates are computed once, whichever node asks for them.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import vapoursynth as vs

from .errors import DvcpError
from .filters.convert import WORKING_MATRICES, OutputWriter, check_clip, output_format
from .filters.errors import FilterError
from .filters.keyframes import make_keyframes
from .filters.refine import refine_filter
from .runtime.pipeline import EXPECTED, EngineKey, Pipeline, pipeline_of, shared_engine, shared_pipeline
from .stages.weights import find_weights

__all__ = ["colorize", "global_match", "local_propagate", "refine"]

Format = vs.VideoFormat | vs.PresetVideoFormat | int | None


@contextmanager
def _errors(function: str) -> Iterator[None]:
    """Turn dvcp's own errors into ``vs.Error("dvcp.<function>: ...")``."""
    try:
        yield
    except (DvcpError, FilterError) as exc:
        raise vs.Error(f"dvcp.{function}: {exc}") from None


def _matrix(clip: vs.VideoNode, matrix: str | int | None) -> str:
    """The working matrix: ``matrix``, else "709" when frame 0 says ``_Matrix=1``, else "601"."""
    if matrix is None:
        return "709" if clip.get_frame(0).props.get("_Matrix") == vs.MATRIX_BT709 else "601"
    if str(matrix) not in WORKING_MATRICES:
        raise FilterError(f"matrix={matrix!r} is not supported; use '601' or '709'")
    return str(matrix)


def _threads(threads: int | None) -> None:
    """Torch CPU threads: ``threads``, else ``core.num_threads``."""
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise FilterError(f"threads={threads!r} must be a positive integer or None")
    torch.set_num_threads(threads or vs.core.num_threads)


def _stage(function: str, field: str, clip: vs.VideoNode, keyframes: Any, **options: Any) -> vs.VideoNode:
    """The ``field`` node of the pipeline that ``colorize``'s options describe."""
    with _errors(function):
        try:
            bound = _COLORIZE.bind(clip, keyframes, **options)
        except TypeError as exc:
            raise FilterError(f"{exc}; the options are those of dvcp.colorize") from None
        bound.apply_defaults()
        opt = bound.arguments
        cache_mb, checkpoint_interval = opt["cache_mb"], opt["checkpoint_interval"]
        check_clip(clip, "the clip")
        if not cache_mb > 0:
            raise FilterError(f"cache_mb={cache_mb!r} must be positive")
        if not isinstance(checkpoint_interval, int) or checkpoint_interval < 1:
            raise FilterError(f"checkpoint_interval={checkpoint_interval!r} must be a positive integer")
        working = _matrix(clip, opt["matrix"])
        fmt = output_format(opt["format"], clip.format)
        positions = None if opt["keyframe_frames"] is None else list(opt["keyframe_frames"])
        keys = make_keyframes(keyframes, clip, positions, working)
        _threads(opt["threads"])
        engine_key = EngineKey.of(
            opt["device"], opt["half"], opt["local_stage"], opt["global_stage"], opt["refine_stage"],
            opt["weights"], opt["chroma_scale"],
        )
        engine = shared_engine(engine_key)
        key = (id(clip), keys.fingerprint, engine_key, working, float(cache_mb), checkpoint_interval)
        pipeline = shared_pipeline(
            key, lambda: Pipeline(clip, keys, engine, engine_key, working, cache_mb, checkpoint_interval)
        )
        return pipeline.node(field, fmt, function)


def colorize(
    clip: vs.VideoNode,
    keyframes: Any,
    *,
    keyframe_frames: Iterable[int] | None = None,
    format: Format = None,
    matrix: str | None = None,
    device: str = "cpu",
    half: bool = False,
    local_stage: str | None = None,
    global_stage: str | None = None,
    refine_stage: str | None = None,
    weights: str | os.PathLike[str] | None = None,
    chroma_scale: float | None = None,
    cache_mb: float = 1024,
    checkpoint_interval: int = 8,
    threads: int | None = None,
) -> vs.VideoNode:
    """Colour ``clip`` from its keyframes: the final (refined) colours of every frame.

    ``keyframes``: a colour clip of the same size (keyframes at ``keyframe_frames``, default [0];
    scene changes take theirs from the same clip) or ``{frame: image path, RGB array or frame}``.
    See the README's "VapourSynth usage" for every option.
    """
    options = dict(locals())
    return _stage("colorize", "final", options.pop("clip"), options.pop("keyframes"), **options)


_COLORIZE = inspect.signature(colorize)


def local_propagate(clip: vs.VideoNode, keyframes: Any, **options: Any) -> vs.VideoNode:
    """The local stage's estimate of every frame (propagated from the previous final frame).

    Same arguments as :func:`colorize`, whose pipeline it shares when they are equal.
    """
    return _stage("local_propagate", "local", clip, keyframes, **options)


def global_match(clip: vs.VideoNode, keyframes: Any, **options: Any) -> vs.VideoNode:
    """The global stage's estimate of every frame (matched from its keyframe).

    Each frame carries its match confidence (1 at keyframes) as a GRAYS frame in the property
    ``DvcpConfidence``. Same arguments as :func:`colorize`, whose pipeline it shares.
    """
    return _stage("global_match", "global_", clip, keyframes, **options)


local_propagate.__signature__ = global_match.__signature__ = _COLORIZE  # type: ignore[attr-defined]


def refine(
    clip: vs.VideoNode,
    local: vs.VideoNode,
    global_: vs.VideoNode,
    *,
    format: Format = None,
    matrix: str | None = None,
    device: str | None = None,
    half: bool | None = None,
    local_stage: str | None = None,
    global_stage: str | None = None,
    refine_stage: str | None = None,
    weights: str | os.PathLike[str] | None = None,
    chroma_scale: float | None = None,
    threads: int | None = None,
) -> vs.VideoNode:
    """Fuse a local and a global estimate of ``clip`` into the final colours.

    When ``local`` and ``global_`` are the nodes that ``local_propagate`` and ``global_match``
    returned for ``clip`` (same pipeline) and no option given here differs from that pipeline's,
    this is that pipeline's final output: nothing is computed twice and the frames equal
    ``colorize``'s. Otherwise the refine stage runs on each frame of the given clips alone
    (colour clips of ``clip``'s size; the confidence comes from ``DvcpConfidence`` when
    ``global_`` carries it, else 1); options left as None take ``colorize``'s defaults.
    """
    with _errors("refine"):
        check_clip(clip, "the clip")
        for what, estimate in (("local", local), ("global_", global_)):
            check_clip(estimate, what)
            if estimate.format.color_family not in (vs.RGB, vs.YUV):
                raise FilterError(f"{what} is {estimate.format.name}; it must be a colour clip (RGB or YUV)")
            if (estimate.width, estimate.height) != (clip.width, clip.height):
                raise FilterError(
                    f"{what} is {estimate.width}x{estimate.height} but the clip is {clip.width}x{clip.height}"
                )
            if estimate.num_frames < clip.num_frames:
                raise FilterError(f"{what} has {estimate.num_frames} frames but the clip has {clip.num_frames}")
        pipeline = pipeline_of(clip, local, global_)
        if pipeline is not None and _same_engine(
            pipeline, device, half, local_stage, global_stage, refine_stage, weights, chroma_scale
        ) and (matrix is None or str(matrix) == pipeline.matrix):
            _threads(threads)
            fmt = output_format(local.format if format is None else format, clip.format)
            return pipeline.node("final", fmt, "refine")
        return _stateless_refine(
            clip, local, global_, format, matrix, "cpu" if device is None else device, bool(half),
            local_stage, global_stage, refine_stage, weights, chroma_scale, threads,
        )


def _same_engine(pipeline: Pipeline, device: str | None, half: bool | None, *rest: Any) -> bool:
    """Whether every engine option given (not None) is what the pipeline's engine uses."""
    local_stage, global_stage, refine_stage, weights, chroma_scale = rest
    engine, key = pipeline.engine, pipeline.engine_key
    checks = [
        device is None or str(device) == key.device,
        half is None or bool(half) == key.half,
        local_stage is None or local_stage == engine.stage_names["local"],
        global_stage is None or global_stage == engine.stage_names["global"],
        refine_stage is None or refine_stage == engine.stage_names["refine"],
        chroma_scale is None or float(chroma_scale) == engine.chroma_scale,
        weights is None or str(find_weights(weights)) == key.weights,
    ]
    return all(checks)


def _stateless_refine(
    clip: vs.VideoNode, local: vs.VideoNode, global_: vs.VideoNode, format: Format, matrix: str | int | None,
    device: str, half: bool, local_stage: str | None, global_stage: str | None, refine_stage: str | None,
    weights: str | os.PathLike[str] | None, chroma_scale: float | None, threads: int | None,
) -> vs.VideoNode:
    working = _matrix(clip, matrix)
    fmt = output_format(format, clip.format)
    _threads(threads)
    engine = shared_engine(EngineKey.of(device, half, local_stage, global_stage, refine_stage, weights, chroma_scale))
    writer = OutputWriter(clip.format, fmt, working)
    return refine_filter(clip, local, global_, engine.refine_full, writer, expected=EXPECTED)
