"""Shared pipelines: one state cache per (clip, keyframes, options), one engine per engine config.

``local_propagate``, ``global_match`` and ``colorize`` called on the same clip with equal
keyframes and options get the same :class:`Pipeline`, so each frame's three estimates are computed
once, whichever of the returned nodes asks first. A pipeline lives as long as one of its nodes
does (their frame callbacks hold it); it knows its nodes through weak references, which is how
``refine`` recognises a (local, global) pair that came from one pipeline.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import vapoursynth as vs

from ..errors import DvcpError
from ..filters.convert import LumaReader, OutputWriter
from ..filters.errors import FilterError
from ..filters.keyframes import Keyframes
from ..filters.stages import Estimate, chroma_filter
from .engine import Engine, EngineConfig
from .frame_limits import allocation_failures
from .state_cache import StateCache
from .threads import torch_threads

EXPECTED = (DvcpError, FilterError)  # errors reported in frame requests by their message alone


@dataclass(frozen=True)
class EngineKey:
    """The options that make an engine; equal keys share one :class:`Engine`.

    The weights are identified by their content (``weights_digest``), not only their path: a
    weights file replaced on disk gives a new engine, never the old file's weights.
    ``stage_options`` is the options' JSON text (sorted keys), so the key stays hashable.
    """

    local: str | None
    global_: str | None
    refine: str | None
    weights: str
    weights_digest: str
    device: str
    half: bool
    chroma_scale: float | None
    stage_options: str = "{}"
    threads: int | None = None

    def config(self) -> EngineConfig:
        """The engine configuration of these options."""
        return EngineConfig(
            local=self.local, global_=self.global_, refine=self.refine, weights=self.weights,
            device=self.device, half=self.half, chroma_scale=self.chroma_scale,
            stage_options=json.loads(self.stage_options), threads=self.threads,
        )


_lock = threading.Lock()
_engines: weakref.WeakValueDictionary[EngineKey, Engine] = weakref.WeakValueDictionary()
_pipelines: weakref.WeakValueDictionary[tuple[object, ...], Pipeline] = weakref.WeakValueDictionary()


def shared_engine(key: EngineKey) -> Engine:
    """The engine for ``key``, built on first use and shared while any pipeline uses it."""
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = Engine(key.config())
        return engine


class Pipeline:
    """A clip, its keyframes and one engine: the state cache and the nodes built on it."""

    def __init__(
        self,
        clip: vs.VideoNode,
        keyframes: Keyframes,
        engine: Engine,
        engine_key: EngineKey,
        matrix: str,
        cache_mb: float,
        checkpoint_interval: int,
        unkeyed_cuts: str = "error",
    ) -> None:
        self.clip, self.keyframes, self.engine, self.engine_key = clip, keyframes, engine, engine_key
        self.matrix = matrix
        self.size = (clip.height, clip.width)
        self.luma = LumaReader(clip.format, matrix)
        self.cache = StateCache(
            engine, keyframes.positions, self._read_frame, keyframes.read_key, clip.num_frames,
            cache_mb=cache_mb, checkpoint_interval=checkpoint_interval, key_at=keyframes.key_at,
            unkeyed_cuts=unkeyed_cuts,
        )
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
        memory = allocation_failures(*self.size, self.engine.chroma_scale, str(self.engine.device))
        with torch_threads(self.engine.config.threads), memory:
            out = self.cache.estimate(n)
            if self.cache.is_keyframe(n):
                chroma = self.keyframes.read_key(n)
                return Estimate(chroma, torch.ones(self.size) if field == "global_" else None)
            chroma = self.engine.to_full(getattr(out, field), self.size)
            confidence = self.engine.to_full(out.confidence, self.size)[0] if field == "global_" else None
            return Estimate(chroma, confidence)

    def node(self, field: str, fmt: vs.VideoFormat, function: str) -> vs.VideoNode:
        """A new output node of ``field`` ("local", "global_" or "final") in format ``fmt``."""

        def produce(n: int, frames: Sequence[vs.VideoFrame]) -> Estimate:
            return self.estimate(n, field, frames[0])

        writer = OutputWriter(self.clip.format, fmt, self.matrix)
        node = chroma_filter(self.clip, produce, writer, function, confidence=field == "global_", expected=EXPECTED)
        with _lock:
            self._nodes = [(ref, f) for ref, f in self._nodes if ref() is not None]
            self._nodes.append((weakref.ref(node), field))
        return node

    def field_of(self, node: vs.VideoNode) -> str | None:
        """Which estimate ``node`` shows, when it is one of this pipeline's nodes."""
        with _lock:
            return next((field for ref, field in self._nodes if ref() is node), None)


def shared_pipeline(key: tuple[object, ...], build: Callable[[], Pipeline]) -> Pipeline:
    """The live pipeline for ``key``, or a new one from ``build``."""
    with _lock:
        pipeline = _pipelines.get(key)
    if pipeline is None:
        pipeline = build()
        with _lock:
            pipeline = _pipelines.setdefault(key, pipeline)
    return pipeline


def pipeline_of(clip: vs.VideoNode, local: vs.VideoNode, global_: vs.VideoNode) -> Pipeline | None:
    """The pipeline on ``clip`` whose local and global nodes are ``local`` and ``global_``, if any."""
    with _lock:
        candidates = [p for p in _pipelines.values() if p.clip is clip]
    for pipeline in candidates:
        if pipeline.field_of(local) == "local" and pipeline.field_of(global_) == "global_":
            return pipeline
    return None
