"""The VapourSynth functions: ``colorize`` and its three stages as streaming filters.

Every function takes the clip first and returns a ``vs.VideoNode``; bad input is a ``vs.Error``
naming the function. ``local_propagate``, ``global_match`` and ``colorize`` on the same clip, equal
keyframes and equal options share one pipeline (see :mod:`dvcp_plugin.runtime.pipeline`): each frame's
estimates are computed once, whichever node asks for them.
"""

from __future__ import annotations

import inspect
import json
import math
import numbers
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import vapoursynth as vs

from .errors import DvcpError
from .filters.convert import FRAME_MATRICES, WORKING_MATRICES, OutputWriter, check_clip, output_format
from .filters.errors import FilterError
from .filters.files import file_digest
from .filters.keyframes import key_positions, make_keyframes
from .filters.refine import refine_filter
from .hookspecs import STAGE_KINDS
from .media.render import error_text
from .runtime.frame_limits import check_frame_size
from .runtime.pipeline import EXPECTED, EngineKey, Pipeline, pipeline_of, shared_engine, shared_pipeline
from .runtime.shots import Shot, scene_changes, split_shots
from .runtime.state_cache import UNKEYED_CUTS
from .stages.weights import find_weights

__all__ = ["colorize", "global_match", "local_propagate", "refine", "shots"]

Format = vs.VideoFormat | vs.PresetVideoFormat | int | None
StageOptions = Mapping[str, Mapping[str, Any]] | None


@contextmanager
def _errors(function: str) -> Iterator[None]:
    """Turn dvcp's own errors into ``vs.Error("dvcp.<function>: ...")``."""
    try:
        yield
    except (DvcpError, FilterError) as exc:
        raise vs.Error(f"dvcp.{function}: {exc}") from None


def _matrix(clip: vs.VideoNode, matrix: str | int | None) -> str:
    """The working matrix: ``matrix``, else "709" when frame 0 says ``_Matrix=1``, else "601".

    ``matrix`` is "601", "709" or a ``vs.MATRIX_*`` value of either (1; 5 or 6). Frame 0 is read
    only when ``matrix`` is None.
    """
    if matrix is None:
        return "709" if clip.get_frame(0).props.get("_Matrix") == vs.MATRIX_BT709 else "601"
    if isinstance(matrix, numbers.Integral) and not isinstance(matrix, bool) and int(matrix) in FRAME_MATRICES:
        return FRAME_MATRICES[int(matrix)]
    if isinstance(matrix, str) and matrix in WORKING_MATRICES:
        return matrix
    raise FilterError(
        f"matrix={matrix!r} is not supported; use '601' or '709' (or vs.MATRIX_BT709, vs.MATRIX_ST170_M, "
        "vs.MATRIX_BT470_BG)"
    )


def _positive_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise FilterError(f"{name}={value!r} must be a positive finite number")
    return float(value)


def _threads(threads: int | None) -> int:
    """Torch CPU threads for this node's work: ``threads``, else ``core.num_threads``."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise FilterError(f"threads={threads!r} must be a positive integer or None")
    return threads or vs.core.num_threads


def _stage_options(options: StageOptions) -> str:
    """``{kind: {option: value}}`` checked, as JSON text with sorted keys (paths become strings)."""
    if options is None:
        return "{}"
    if not isinstance(options, Mapping) or not all(isinstance(v, Mapping) for v in options.values()):
        raise FilterError(f"stage_options={options!r} must be a mapping {{kind: {{option: value}}}}")
    unknown = sorted(str(kind) for kind in options if kind not in STAGE_KINDS)
    if unknown:
        raise FilterError(f"stage_options has unknown stage kind(s) {', '.join(unknown)}; kinds: {', '.join(STAGE_KINDS)}")
    try:
        return json.dumps({k: dict(v) for k, v in options.items()}, sort_keys=True, default=os.fspath)
    except TypeError as exc:
        raise FilterError(f"stage_options holds a value that is not a number, text or path: {exc}") from None


def engine_key_of(
    device: str, half: bool, local_stage: str | None, global_stage: str | None,
    refine_stage: str | None, weights: str | os.PathLike[str] | None, chroma_scale: float | None,
    stage_options: StageOptions = None, threads: int | None = None,
) -> EngineKey:
    """The key of the engine that :func:`colorize`'s options make (the weights known by their content).

    A bad option is a :class:`FilterError`; a holder of an engine (a batch worker) keeps the engine
    of this key alive across clips.
    """
    if chroma_scale is not None:
        chroma_scale = _positive_number("chroma_scale", chroma_scale)
        if chroma_scale > 1:
            raise FilterError(f"chroma_scale={chroma_scale!r} must be in (0, 1]")
    path = find_weights(weights)
    return EngineKey(
        local=local_stage, global_=global_stage, refine=refine_stage, weights=str(path),
        weights_digest=file_digest(path), device=str(device), half=bool(half), chroma_scale=chroma_scale,
        stage_options=_stage_options(stage_options), threads=_threads(threads),
    )


def _unkeyed_cuts(value: Any) -> str:
    if value not in UNKEYED_CUTS:
        raise FilterError(f"unkeyed_cuts={value!r} must be 'error' or 'continue'")
    return value


def _keyframe_frames(frames: Any) -> list[int] | None:
    if frames is None:
        return None
    if isinstance(frames, (str, bytes)) or not isinstance(frames, Iterable):
        raise FilterError(f"keyframe_frames={frames!r} must be a list of frame numbers, e.g. [0]")
    return list(frames)


def _stage(function: str, field: str, clip: vs.VideoNode, keyframes: Any, **options: Any) -> vs.VideoNode:
    """The ``field`` node of the pipeline that ``colorize``'s options describe."""
    with _errors(function):
        try:
            bound = _COLORIZE.bind(clip, keyframes, **options)
        except TypeError as exc:
            raise FilterError(f"{exc}; the options are those of dvcp.colorize") from None
        bound.apply_defaults()
        opt = bound.arguments
        checkpoint_interval, unkeyed_cuts = opt["checkpoint_interval"], opt["unkeyed_cuts"]
        check_clip(clip, "the clip")
        cache_mb = _positive_number("cache_mb", opt["cache_mb"])
        if isinstance(checkpoint_interval, bool) or not isinstance(checkpoint_interval, int) or checkpoint_interval < 1:
            raise FilterError(f"checkpoint_interval={checkpoint_interval!r} must be a positive integer")
        _unkeyed_cuts(unkeyed_cuts)
        engine_key = engine_key_of(
            opt["device"], opt["half"], opt["local_stage"], opt["global_stage"], opt["refine_stage"],
            opt["weights"], opt["chroma_scale"], opt["stage_options"], opt["threads"],
        )
        engine = shared_engine(engine_key)
        check_frame_size(clip.height, clip.width, engine.chroma_scale, str(engine.device))  # before any frame
        working = _matrix(clip, opt["matrix"])
        fmt = output_format(opt["format"], clip.format)
        keys = make_keyframes(keyframes, clip, _keyframe_frames(opt["keyframe_frames"]), working)
        key = (id(clip), keys.fingerprint, engine_key, working, cache_mb, checkpoint_interval, unkeyed_cuts)
        pipeline = shared_pipeline(
            key, lambda: Pipeline(clip, keys, engine, engine_key, working, cache_mb, checkpoint_interval, unkeyed_cuts)
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
    stage_options: StageOptions = None,
    cache_mb: float = 1024,
    checkpoint_interval: int = 8,
    unkeyed_cuts: str = "error",
    threads: int | None = None,
) -> vs.VideoNode:
    """Colour ``clip`` from its keyframes: the final (refined) colours of every frame.

    ``keyframes``: a colour clip of the same size (keyframes at ``keyframe_frames``, default [0];
    scene changes take theirs from the same clip) or ``{frame: image path, RGB array or frame}``.
    A shot (bounded by scene changes) may hold any number of keyframes at any frames; each frame is
    coloured from the keyframes before and after it in its shot, forward and backward, blended.
    ``unkeyed_cuts``: what a shot without a keyframe does, "error" (the default) or "continue" (the
    cut that starts it is crossed). See the README's "VapourSynth usage" for every option.
    """
    options = dict(locals())
    return _stage("colorize", "final", options.pop("clip"), options.pop("keyframes"), **options)


_COLORIZE = inspect.signature(colorize)


def local_propagate(clip: vs.VideoNode, keyframes: Any, **options: Any) -> vs.VideoNode:
    """The local stage's estimate of every frame (propagated from the previous final frame of its chain;
    between two keyframes, the two chains' estimates blended as the final colours are).

    Same arguments as :func:`colorize`, whose pipeline it shares when they are equal.
    """
    return _stage("local_propagate", "local", clip, keyframes, **options)


def global_match(clip: vs.VideoNode, keyframes: Any, **options: Any) -> vs.VideoNode:
    """The global stage's estimate of every frame (matched from its keyframe; between two keyframes,
    the two chains' estimates blended as the final colours are).

    Each frame carries its match confidence (1 at keyframes; between two keyframes the blended
    confidence) as a GRAYS frame in the property ``DvcpConfidence``. Same arguments as
    :func:`colorize`, whose pipeline it shares.
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
    stage_options: StageOptions = None,
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
            pipeline, device, half, local_stage, global_stage, refine_stage, weights, chroma_scale, stage_options,
            threads,
        ) and (matrix is None or _matrix(clip, matrix) == pipeline.matrix):
            fmt = output_format(local.format if format is None else format, clip.format)
            return pipeline.node("final", fmt, "refine")
        return _stateless_refine(
            clip, local, global_, format, matrix, "cpu" if device is None else device, bool(half),
            local_stage, global_stage, refine_stage, weights, chroma_scale, stage_options, threads,
        )


def _same_engine(pipeline: Pipeline, device: str | None, half: bool | None, *rest: Any) -> bool:
    """Whether every engine option given (not None) is what the pipeline's engine uses."""
    local_stage, global_stage, refine_stage, weights, chroma_scale, stage_options, threads = rest
    engine, key = pipeline.engine, pipeline.engine_key
    checks = [
        device is None or str(device) == key.device,
        half is None or bool(half) == key.half,
        local_stage is None or local_stage == engine.stage_names["local"],
        global_stage is None or global_stage == engine.stage_names["global"],
        refine_stage is None or refine_stage == engine.stage_names["refine"],
        chroma_scale is None or _positive_number("chroma_scale", chroma_scale) == engine.chroma_scale,
        weights is None or file_digest(find_weights(weights)) == key.weights_digest,
        stage_options is None or _stage_options(stage_options) == key.stage_options,
        threads is None or _threads(threads) == key.threads,
    ]
    return all(checks)


def _stateless_refine(
    clip: vs.VideoNode, local: vs.VideoNode, global_: vs.VideoNode, format: Format, matrix: str | int | None,
    device: str, half: bool, local_stage: str | None, global_stage: str | None, refine_stage: str | None,
    weights: str | os.PathLike[str] | None, chroma_scale: float | None, stage_options: StageOptions,
    threads: int | None,
) -> vs.VideoNode:
    engine_key = engine_key_of(
        device, half, local_stage, global_stage, refine_stage, weights, chroma_scale, stage_options, threads
    )
    working = _matrix(clip, matrix)
    fmt = output_format(format, clip.format)
    engine = shared_engine(engine_key)
    writer = OutputWriter(clip.format, fmt, working)
    return refine_filter(clip, local, global_, engine.refine_full, writer, expected=EXPECTED)


def shots(
    clip: vs.VideoNode,
    keyframes: Any = None,
    *,
    keyframe_frames: Iterable[int] | None = None,
    unkeyed_cuts: str = "error",
) -> list[Shot]:
    """The shots of ``clip`` and their keyframes, found before anything is coloured.

    Reads the ``_SceneChangePrev`` property of every frame (requesting each frame once, several at
    a time) and splits the clip there. ``keyframes`` and ``keyframe_frames`` are those you would
    give :func:`colorize` (only their positions are used; a mapping's images are not read), or
    None to list the shots alone. A :class:`~dvcp_plugin.runtime.shots.Shot` whose ``keyed`` is
    False holds no keyframe and would fail when rendering reaches it. With
    ``unkeyed_cuts="continue"`` a scene change that would leave a shot without a keyframe does not
    start one, as in :func:`colorize`.
    """
    with _errors("shots"):
        check_clip(clip, "the clip")
        positions, key_at = key_positions(keyframes, clip, _keyframe_frames(keyframe_frames))
        cuts_mode = _unkeyed_cuts(unkeyed_cuts)
        try:
            cuts = scene_changes(clip, vs.core.num_threads)
        except vs.Error as exc:
            raise FilterError(f"cannot read the clip's frames: {error_text(exc)}") from None
        return split_shots(clip.num_frames, cuts, positions, key_at, cuts_mode)
