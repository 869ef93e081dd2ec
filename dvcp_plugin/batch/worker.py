"""The work of one Ray actor: colour parts and reassemble reels, one after another.

An actor keeps every engine it loads (one, when the shots share their options), so the weights
are read once per worker and not once per shot. ``fault_after_frames`` makes the actor's process
exit abruptly after writing that many frames, the first time it runs only (not once Ray has
restarted it): a way to watch Ray retry the shot on a restarted worker.
"""

from __future__ import annotations

import os

import ray
import vapoursynth as vs

from ..errors import DvcpError
from ..errors import FilterError
from ..runtime.engine import Engine
from ..runtime.pipeline import EngineKey, shared_engine
from ..vsapi import engine_key_of
from .reels import assemble
from .colour_part import colour_part
from .work import Part, Reel, Result

FAULT_EXIT_CODE = 3


class ShotWorker:
    """One worker: its engines, its frame counter, and the parts it is given."""

    def __init__(self, counter: str | None = None, fault_after_frames: int | None = None) -> None:
        """``counter``: the name of a :class:`~.progress.FrameCounter` actor told of each frame written."""
        in_actor = ray.is_initialized() and ray.get_runtime_context().get_actor_id() is not None
        if in_actor:  # VapourSynth and torch use the CPUs Ray gave this actor, no more
            vs.core.num_threads = max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))
        first_life = in_actor and not ray.get_runtime_context().was_current_actor_reconstructed
        self._fault_after = fault_after_frames if first_life else None
        self._counter = ray.get_actor(counter) if counter is not None else None
        self._frames = 0
        self._engines: dict[EngineKey, Engine] = {}

    def colour(self, part: Part, overwrite: bool = False) -> Result:
        """Colour ``part`` (see :func:`.shots.colour_part`) with the engine of its options, loaded once."""
        options = part.options
        try:
            key = engine_key_of(
                options.device, options.half, options.local_stage, options.global_stage, options.refine_stage,
                options.weights, options.chroma_scale, options.stage_options, options.threads,
            )
            if key not in self._engines:
                self._engines[key] = shared_engine(key)
        except (DvcpError, FilterError):
            pass  # colouring meets the same error and reports it as `dvcp colorize` words it
        return colour_part(part, overwrite, self._frame_written)

    def assemble(self, reel: Reel, overwrite: bool = False) -> Result:
        """Reassemble ``reel`` from its coloured parts (see :func:`.reels.assemble`)."""
        return assemble(reel, overwrite)

    def _frame_written(self, n: int) -> None:
        self._frames += 1
        if self._counter is not None:
            self._counter.add.remote(1)
        if self._fault_after is not None and self._frames >= self._fault_after:
            os._exit(FAULT_EXIT_CODE)
