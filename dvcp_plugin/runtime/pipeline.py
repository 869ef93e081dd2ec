"""Shared pipelines: one state cache per (clip, keyframes, options), one engine per engine key.

``local_propagate``, ``global_match`` and ``colorize`` called on the same clip with equal
keyframes and options get the same :class:`Pipeline`, so each frame's three estimates are computed
once, whichever of the returned nodes asks first. A pipeline lives as long as one of its nodes
does (their frame callbacks hold it); it knows its nodes through weak references, which is how
``refine`` recognises a (local, global) pair that came from one pipeline.

Engines are shared by their :class:`EngineKey`: the options as the engine resolves them, and the
weights by their content. An engine is built outside the lock that guards the shared ones, so
building one (loading weights, starting CUDA, importing plugins) holds up no other; requests for a
key being built wait for that build.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import vapoursynth as vs

from ..errors import DvcpError
from ..filters.chroma_filter import Estimate, chroma_filter
from ..filters.convert import LumaReader, OutputWriter
from ..filters.files import file_digest
from ..filters.frame_errors import FrameErrors
from ..filters.keyframes import Keyframes, make_keyframes
from ..options import EngineOptions, Options
from ..stages.weights import find_weights, load_weights
from .engine import Engine, StepOutput, resolved_options
from .frame_limits import allocation_failures, check_frame_size
from .state_cache import StateCache

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineKey:
    """What makes an engine, as the engine resolves it; equal keys share one :class:`Engine`.

    ``options`` are those the engine runs with (the stage names and chroma scale a weights file
    decides filled in, ``weights`` left out); ``weights`` is the file, and ``weights_digest`` its
    content: a weights file replaced on disk gives a new engine, never the old file's weights.
    """

    options: EngineOptions
    weights: Path
    weights_digest: str

    def build(self) -> Engine:
        """A new engine of this key."""
        return Engine(replace(self.options, weights=self.weights))

    def computes_as(self, other: EngineKey) -> bool:
        """Whether an engine of this key computes what one of ``other`` does: the same options and
        the same weights, wherever the file."""
        return self.options == other.options and self.weights_digest == other.weights_digest


@functools.lru_cache(maxsize=16)
def _weights_choices(path: Path, digest: str) -> dict[str, Any]:
    """What the weights file of content ``digest`` decides of an engine: its stage names and chroma scale."""
    data = load_weights(path)
    stages = {kind: {"name": section["name"]} for kind, section in data["stages"].items()}
    return {"stages": stages, "chroma_scale": data.get("chroma_scale")}


def engine_key(options: EngineOptions) -> EngineKey:
    """The key of the engine ``options`` make; missing or unreadable weights are a ``WeightsError``."""
    path = find_weights(options.weights)
    digest = file_digest(path)
    resolved = resolved_options(options, _weights_choices(path, digest))
    return EngineKey(replace(resolved, weights=None), path, digest)


_lock = threading.Lock()
_engines: weakref.WeakValueDictionary[EngineKey, Engine] = weakref.WeakValueDictionary()
_building: dict[EngineKey, Future[Engine]] = {}
_pipelines: weakref.WeakValueDictionary[tuple[object, ...], Pipeline] = weakref.WeakValueDictionary()


def shared_engine(key: EngineKey) -> Engine:
    """The engine of ``key``, built on first use and shared while anything uses it.

    The build runs outside the shared engines' lock: engines of other keys are built or handed out
    meanwhile, and callers asking for the same key wait for this build (and get its error, if any).
    """
    with _lock:
        engine = _engines.get(key)
        if engine is not None:
            return engine
        pending = _building.get(key)
        building = pending is None
        if pending is None:
            pending = _building[key] = Future()
    if not building:
        return pending.result()
    started = time.monotonic()
    try:
        engine = key.build()
    except BaseException as exc:
        with _lock:
            del _building[key]
        pending.set_exception(exc)
        raise
    with _lock:
        _engines[key] = engine
        del _building[key]
    pending.set_result(engine)
    log.debug("engine built in %.1f s: %s, weights %s", time.monotonic() - started, key.options, key.weights)
    return engine


def working_matrix(clip: vs.VideoNode, matrix: str | None) -> str:
    """The working matrix: ``matrix``, else "709" when frame 0 says ``_Matrix=1``, else "601"."""
    if matrix is not None:
        return matrix
    return "709" if clip.get_frame(0).props.get("_Matrix") == vs.MATRIX_BT709 else "601"


def counted_threads[Counted: EngineOptions](options: Counted) -> Counted:
    """``options`` with their torch threads counted: VapourSynth's ``core.num_threads`` where not given."""
    return replace(options, threads=options.threads or vs.core.num_threads)


def clip_options(clip: vs.VideoNode, options: Options) -> Options:
    """``options`` as they colour ``clip``: the working matrix decided and torch threads counted."""
    return counted_threads(replace(options, matrix=working_matrix(clip, options.matrix)))


class Pipeline:
    """A clip, its keyframes and one engine: the state cache and the nodes built on it.

    ``options`` are those of :func:`clip_options`. ``errors`` keeps the first error its nodes' frame
    requests raised (see :class:`~dvcp_plugin.filters.frame_errors.FrameErrors`).
    """

    def __init__(
        self, clip: vs.VideoNode, keyframes: Keyframes, engine: Engine, engine_key: EngineKey, options: Options
    ) -> None:
        self.clip, self.keyframes, self.engine, self.engine_key = clip, keyframes, engine, engine_key
        self.options = options
        self.matrix: str = options.matrix  # type: ignore[assignment]
        self.size = (clip.height, clip.width)
        self.luma = LumaReader(clip.format, self.matrix)
        self.cache = StateCache(
            engine, keyframes.positions, self._read_frame, keyframes.read_key, clip.num_frames,
            cache_mb=options.cache_mb, checkpoint_interval=options.checkpoint_interval, key_at=keyframes.key_at,
            unkeyed_cuts=options.unkeyed_cuts, unreadable=(DvcpError, vs.Error),
        )
        self.errors = FrameErrors()
        self._nodes: list[tuple[weakref.ref[vs.VideoNode], str]] = []
        self._at_hand = threading.local()  # the input frame VapourSynth passed to this thread's request

    def _read_frame(self, n: int) -> tuple[torch.Tensor, bool]:
        """Frame ``n``'s luma and scene-change flag, from the frame passed with the request when it is n's."""
        at_hand = getattr(self._at_hand, "frame", None)
        frame = at_hand[1] if at_hand is not None and at_hand[0] == n else self.clip.get_frame(n)
        return self.luma(frame), bool(frame.props.get("_SceneChangePrev", 0))

    def estimate(self, n: int, field: str, frame: vs.VideoFrame | None = None) -> Estimate:
        """Frame ``n``'s ``field`` estimate at full resolution; a keyframe gives its own chroma.

        ``frame``, the input's frame n when the caller has it, spares reading it again.
        """
        self._at_hand.frame = None if frame is None else (n, frame)
        try:
            return self._estimate(n, field)
        finally:
            self._at_hand.frame = None

    def _estimate(self, n: int, field: str) -> Estimate:
        with allocation_failures(*self.size, self.engine.chroma_scale, str(self.engine.device)):
            out = self.cache.estimate(n)
            if self.cache.is_keyframe(n):
                chroma = self.keyframes.read_key(n)
                return Estimate(chroma, torch.ones(self.size) if field == "global_" else None)
            return self.engine.run(self._full_size, out, field)

    def _full_size(self, out: StepOutput, field: str) -> Estimate:
        chroma = self.engine.to_full(getattr(out, field), self.size)
        confidence = self.engine.to_full(out.confidence, self.size)[0] if field == "global_" else None
        return Estimate(chroma, confidence)

    def node(self, field: str, fmt: vs.VideoFormat, function: str) -> vs.VideoNode:
        """A new output node of ``field`` ("local", "global_" or "final") in format ``fmt``."""

        def produce(n: int, frames: Sequence[vs.VideoFrame]) -> Estimate:
            return self.estimate(n, field, frames[0])

        writer = OutputWriter(self.clip.format, fmt, self.matrix)
        node = chroma_filter(self.clip, produce, writer, function, confidence=field == "global_", errors=self.errors)
        with _lock:
            self._nodes = [(ref, f) for ref, f in self._nodes if ref() is not None]
            self._nodes.append((weakref.ref(node), field))
        return node

    def field_of(self, node: vs.VideoNode) -> str | None:
        """Which estimate ``node`` shows, when it is one of this pipeline's nodes."""
        with _lock:
            return next((field for ref, field in self._nodes if ref() is node), None)

    def takes(self, given: Mapping[str, Any]) -> bool:
        """Whether the options ``given`` (by name; None: not given) are this pipeline's: its matrix, and
        its engine as they would make it (the weights by their content, names and scale resolved)."""
        wanted = clip_options(self.clip, replace(self.options, **{k: v for k, v in given.items() if v is not None}))
        return wanted.matrix == self.matrix and engine_key(wanted.engine()).computes_as(self.engine_key)


def shared_pipeline(clip: vs.VideoNode, keyframes: Any, keyframe_frames: Any, options: Options) -> Pipeline:
    """The live pipeline colouring ``clip`` from ``keyframes`` with ``options``, or a new one.

    ``keyframes`` and ``keyframe_frames`` are those of ``dvcp_plugin.colorize``. Bad keyframes,
    weights or stages, and frames too small or too large to colour here
    (:mod:`.frame_limits`), are a ``DvcpError``.
    """
    options = clip_options(clip, options)
    key = engine_key(options.engine())
    keys = make_keyframes(keyframes, clip, keyframe_frames, options.matrix)  # type: ignore[arg-type]
    engine = shared_engine(key)
    check_frame_size(clip.height, clip.width, engine.chroma_scale, str(engine.device))  # before any frame is coloured
    pipeline_key = (id(clip), keys.fingerprint, key, options)
    with _lock:
        pipeline = _pipelines.get(pipeline_key)
    if pipeline is None:
        pipeline = Pipeline(clip, keys, engine, key, options)
        with _lock:
            pipeline = _pipelines.setdefault(pipeline_key, pipeline)
    return pipeline


def pipeline_of(clip: vs.VideoNode, local: vs.VideoNode, global_: vs.VideoNode) -> Pipeline | None:
    """The pipeline on ``clip`` whose local and global nodes are ``local`` and ``global_``, if any."""
    with _lock:
        candidates = [p for p in _pipelines.values() if p.clip is clip]
    for pipeline in candidates:
        if pipeline.field_of(local) == "local" and pipeline.field_of(global_) == "global_":
            return pipeline
    return None

