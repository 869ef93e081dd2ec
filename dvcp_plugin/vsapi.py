"""The VapourSynth functions: ``colorize`` and its three stages as streaming filters.

Every function takes the clip first and returns a ``vs.VideoNode``; bad input is a ``vs.Error``
naming the function. This module is the edge between dvcp and VapourSynth scripts: the options
are those of :class:`~dvcp_plugin.options.Options` (each function's keywords are made from its
fields), the work is done below (:mod:`dvcp_plugin.runtime.pipeline`), and a ``DvcpError`` raised
there becomes the ``vs.Error`` here. ``local_propagate``, ``global_match`` and ``colorize`` on the
same clip, equal keyframes and equal options share one pipeline: each frame's estimates are
computed once, whichever node asks for them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import vapoursynth as vs

from .errors import DvcpError, FilterError
from .filters.convert import OutputWriter, check_clip, output_format
from .filters.refine_filter import refine_filter
from .options import EngineOptions, OptionInfo, Options, option_infos
from .runtime.pipeline import counted_threads, engine_key, pipeline_of, shared_engine, shared_pipeline, working_matrix
from .runtime.shot_list import Shot, list_shots

__all__ = ["colorize", "global_match", "local_propagate", "refine", "shots"]

type Format = vs.VideoFormat | vs.PresetVideoFormat | int | None

# refine takes the engine's options and the matrix: what it needs to run the refine stage alone
REFINE_OPTIONS = (*(info.name for info in option_infos(EngineOptions)), "matrix")


@contextmanager
def _errors(function: str) -> Iterator[None]:
    """Turn dvcp's own errors into ``vs.Error("dvcp.<function>: ...")``."""
    try:
        yield
    except DvcpError as exc:
        raise vs.Error(f"dvcp.{function}: {exc}") from None


def _with_options(function: Callable[..., Any], infos: Iterable[OptionInfo], defaults: bool = True) -> None:
    """Give ``function`` the signature it has with a keyword for each option in place of ``**options``
    (the option's default, or None with ``defaults`` False)."""
    signature = inspect.signature(function)
    params = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    params += [
        inspect.Parameter(info.name, inspect.Parameter.KEYWORD_ONLY, default=info.default if defaults else None,
                          annotation=info.hint)
        for info in infos
    ]
    function.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]


def _keyframe_frames(frames: Any) -> list[int] | None:
    if frames is None:
        return None
    if isinstance(frames, (str, bytes)) or not isinstance(frames, Iterable):
        raise FilterError(f"keyframe_frames={frames!r} must be a list of frame numbers, e.g. [0]")
    return list(frames)


def _stage(
    function: str, field: str, clip: vs.VideoNode, keyframes: Any, keyframe_frames: Any, format: Format,
    given: Mapping[str, Any],
) -> vs.VideoNode:
    """The ``field`` node of the pipeline that ``colorize``'s options describe."""
    with _errors(function):
        options = Options.of(given)
        check_clip(clip, "the clip")
        fmt = output_format(format, clip.format)
        pipeline = shared_pipeline(clip, keyframes, _keyframe_frames(keyframe_frames), options)
        return pipeline.node(field, fmt, function)


def colorize(
    clip: vs.VideoNode, keyframes: Any, *, keyframe_frames: Iterable[int] | None = None, format: Format = None,
    **options: Any,
) -> vs.VideoNode:
    """Colour ``clip`` from its keyframes: the final (refined) colours of every frame.

    ``keyframes``: a colour clip of the same size (keyframes at ``keyframe_frames``, default [0];
    scene changes take theirs from the same clip) or ``{frame: image path, RGB array or frame}``.
    A shot (bounded by scene changes) may hold any number of keyframes at any frames; each frame is
    coloured from the keyframes before and after it in its shot, forward and backward, blended.
    ``options`` are those of :class:`~dvcp_plugin.options.Options` (``device``, ``weights``,
    ``chroma_scale``, ``unkeyed_cuts``, ...; see docs/VAPOURSYNTH.md for each).
    """
    return _stage("colorize", "final", clip, keyframes, keyframe_frames, format, options)


def local_propagate(
    clip: vs.VideoNode, keyframes: Any, *, keyframe_frames: Iterable[int] | None = None, format: Format = None,
    **options: Any,
) -> vs.VideoNode:
    """The local stage's estimate of every frame (propagated from the previous final frame of its chain;
    between two keyframes, the two chains' estimates blended as the final colours are).

    Same arguments as :func:`colorize`, whose pipeline it shares when they are equal.
    """
    return _stage("local_propagate", "local", clip, keyframes, keyframe_frames, format, options)


def global_match(
    clip: vs.VideoNode, keyframes: Any, *, keyframe_frames: Iterable[int] | None = None, format: Format = None,
    **options: Any,
) -> vs.VideoNode:
    """The global stage's estimate of every frame (matched from its keyframe; between two keyframes,
    the two chains' estimates blended as the final colours are).

    Each frame carries its match confidence (1 at keyframes; between two keyframes the blended
    confidence) as a GRAYS frame in the property ``DvcpConfidence``. Same arguments as
    :func:`colorize`, whose pipeline it shares.
    """
    return _stage("global_match", "global_", clip, keyframes, keyframe_frames, format, options)


for _function in (colorize, local_propagate, global_match):
    _with_options(_function, option_infos(Options))


def refine(
    clip: vs.VideoNode, local: vs.VideoNode, global_: vs.VideoNode, *, format: Format = None, **options: Any
) -> vs.VideoNode:
    """Fuse a local and a global estimate of ``clip`` into the final colours.

    ``options`` are the engine's options of :func:`colorize` and ``matrix``. When ``local`` and
    ``global_`` are the nodes that ``local_propagate`` and ``global_match`` returned for ``clip``
    (same pipeline) and no option given here differs from that pipeline's, this is that pipeline's
    final output: nothing is computed twice and the frames equal ``colorize``'s. Otherwise the
    refine stage runs on each frame of the given clips alone (colour clips of ``clip``'s size; the
    confidence comes from ``DvcpConfidence`` when ``global_`` carries it, else 1); options left as
    None take ``colorize``'s defaults.
    """
    with _errors("refine"):
        unknown = sorted(set(options) - set(REFINE_OPTIONS))
        if unknown:
            raise DvcpError(f"unknown option {unknown[0]!r}; the options are {', '.join(REFINE_OPTIONS)}")
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
        if pipeline is not None and pipeline.takes(options):
            fmt = output_format(local.format if format is None else format, clip.format)
            return pipeline.node("final", fmt, "refine")
        return _stateless_refine(clip, local, global_, format, Options.of(options))


_with_options(refine, [info for info in option_infos(Options) if info.name in REFINE_OPTIONS], defaults=False)


def _stateless_refine(
    clip: vs.VideoNode, local: vs.VideoNode, global_: vs.VideoNode, format: Format, options: Options
) -> vs.VideoNode:
    engine = shared_engine(engine_key(counted_threads(options.engine())))
    working = working_matrix(clip, options.matrix)
    writer = OutputWriter(clip.format, output_format(format, clip.format), working)
    return refine_filter(clip, local, global_, engine.refine_full, writer)


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
    None to list the shots alone. A :class:`~dvcp_plugin.runtime.shot_list.Shot` whose ``keyed`` is
    False holds no keyframe and would fail when rendering reaches it. With
    ``unkeyed_cuts="continue"`` a scene change that would leave a shot without a keyframe does not
    start one, as in :func:`colorize`.
    """
    with _errors("shots"):
        check_clip(clip, "the clip")
        cuts = Options(unkeyed_cuts=unkeyed_cuts).unkeyed_cuts
        return list_shots(clip, keyframes, _keyframe_frames(keyframe_frames), cuts)
