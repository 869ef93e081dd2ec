"""The work of one Ray actor: colour parts and reassemble reels, one after another.

An actor keeps every engine it loads (one, when the shots share their options), so the weights
are read once per worker and not once per shot.
"""

from __future__ import annotations

import ray
import vapoursynth as vs

from ..errors import DvcpError
from ..runtime.engine import Engine
from ..runtime.pipeline import EngineKey, counted_threads, engine_key, shared_engine
from .colour_part import colour_part
from .reels import assemble
from .work import Part, Reel, Result


class ShotWorker:
    """One worker: its engines, its frame counter, and the parts it is given."""

    def __init__(self, counter: str | None = None) -> None:
        """``counter``: the name of a :class:`~.progress.FrameCounter` actor told of each frame written."""
        if ray.is_initialized() and ray.get_runtime_context().get_actor_id() is not None:
            # VapourSynth and torch use the CPUs Ray gave this actor, no more
            vs.core.num_threads = max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))
        self._counter = ray.get_actor(counter) if counter is not None else None
        self.frames = 0
        self._engines: dict[EngineKey, Engine] = {}

    def colour(self, part: Part, overwrite: bool = False) -> Result:
        """Colour ``part`` (see :func:`.colour_part.colour_part`) with the engine of its options, loaded once."""
        try:
            key = engine_key(counted_threads(part.options.engine()))
            if key not in self._engines:
                self._engines[key] = shared_engine(key)
        except DvcpError:
            pass  # colouring meets the same error and reports it as `dvcp colorize` words it
        return colour_part(part, overwrite, self.frame_written)

    def assemble(self, reel: Reel, overwrite: bool = False) -> Result:
        """Reassemble ``reel`` from its coloured parts (see :func:`.reels.assemble`)."""
        return assemble(reel, overwrite)

    def frame_written(self, n: int) -> None:
        """Count a frame written, and tell the frame counter."""
        self.frames += 1
        if self._counter is not None:
            self._counter.add.remote(1)
