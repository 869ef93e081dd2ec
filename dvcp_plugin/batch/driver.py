"""Running a planned batch on Ray: one actor per worker, the parts handed out one at a time.

By default an embedded Ray instance is started on this machine (and stopped at the end, and by
:mod:`.reaper` when this driver is killed); with an address (``auto``, ``ray://HOST:10001``) the
run joins that cluster; when Ray is already started in this process it is used as it is. Each
actor holds its engines (:mod:`.worker`) and asks Ray for ``cpus_per_worker`` CPUs, and for one
GPU when a shot runs on ``cuda``. A worker process that dies mid-shot is restarted by Ray and the
shot retried (up to :data:`RETRIES` times): a frame folder keeps the frames already written, so
the shot resumes. When a reel's parts are all coloured, its reassembly is the next piece of work
handed out.
"""

from __future__ import annotations

import logging
import math
import os
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import DvcpError
from .plan import PlannedShot
from .progress import BatchProgress, FrameCounter
from .ray_log import ray_log_path, ray_messages_to
from .reaper import Reaper
from .reels import tidy_staging
from .summary import ShotRecord, Summary, shot_record
from .work import Result, failed

log = logging.getLogger(__name__)

RETRIES = 3  # times a shot is retried after its worker process died
POLL_SECONDS = 0.5  # how often the progress bar takes the frame count while waiting


def import_ray() -> Any:
    """The ``ray`` module, or a :class:`DvcpError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise DvcpError(
            "dvcp batch runs on Ray, which is not installed: pip install 'dvcp-plugin[cluster]' (./setup.sh does)"
        ) from None
    return ray


@dataclass(frozen=True)
class Cluster:
    """Where and how wide to run: a Ray address (None: a local instance), workers and CPUs for each."""

    address: str | None = None
    workers: int | None = None  # None: as many as the cluster's CPUs (or GPUs) allow
    cpus_per_worker: float = 1.0


def run_batch(
    planned: Sequence[PlannedShot], cluster: Cluster, summary: Summary, overwrite: bool = False,
    ray_log: Path | None = None,
) -> None:
    """Colour every planned shot on Ray, recording each shot in ``summary`` as it finishes.

    The summary is first written once Ray has room for the workers (a :class:`DvcpError` if it has
    none). Ray's own messages go to ``ray_log`` (:mod:`.ray_log`; by default beside the summary).
    A run stopped by Ctrl-C or SIGTERM removes what its killed workers left unfinished in the
    staging areas of reels, and staging areas left empty (:func:`~.reels.tidy_staging`).
    """
    if not any(shot.parts for shot in planned):  # every shot settled by its plan: no need for Ray
        summary.write()
        return
    ray = import_ray()
    started = time.monotonic()
    reaper = Reaper() if cluster.address is None and not ray.is_initialized() else None
    if reaper is not None:  # Ray's processes on this machine go when this driver goes, however it goes
        reaper.start()
    log_path = ray_log or ray_log_path(summary.path)
    summary.info["ray_log"] = str(log_path)
    try:
        with ray_messages_to(log_path):
            started_here = _connect(ray, cluster)
            try:
                run = _Run(ray, planned, cluster, summary, overwrite)
                summary.write()
                run.run(started)
            finally:
                if started_here:
                    ray.shutdown()
    except KeyboardInterrupt:
        for shot in planned:
            if shot.reel is not None:
                tidy_staging(shot.reel.output)
        raise
    finally:
        if reaper is not None:
            reaper.finish()


def _connect(ray: Any, cluster: Cluster) -> bool:
    """Connect to Ray as ``cluster`` says; whether this call started it."""
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    if cluster.address is None:  # a new instance, even where `ray start` made one on this machine
        options |= {"address": "local", "include_dashboard": False}
        if cluster.workers is not None:  # as many workers as asked for, even on fewer cores
            options["num_cpus"] = max(os.cpu_count() or 1, math.ceil(cluster.workers * cluster.cpus_per_worker))
    else:
        options["address"] = cluster.address
    try:
        ray.init(**options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = cluster.address or "this machine"
        raise DvcpError(f"cannot start or join Ray at {where}: {str(exc).strip().splitlines()[0]}") from None
    return True


class _Run:
    """One batch on a connected Ray: the actors, the work queue and what came back."""

    def __init__(
        self, ray: Any, planned: Sequence[PlannedShot], cluster: Cluster, summary: Summary, overwrite: bool
    ) -> None:
        """Check that the cluster has room for the workers; they start in :meth:`run`."""
        self.ray, self.planned, self.summary, self.overwrite = ray, planned, summary, overwrite
        self.cpus_per_worker = cluster.cpus_per_worker
        self.results: dict[int, list[Result | None]] = {
            i: [None] * len(shot.parts) for i, shot in enumerate(planned) if shot.status is None
        }
        self.work: deque[tuple[int, int | None]] = deque(  # (shot, part); part None: reassemble the reel
            (i, j) for i in self.results for j in range(len(planned[i].parts))
        )
        self.gpus = 1 if any(p.options.device == "cuda" for shot in planned for p in shot.parts) else 0
        self.workers = min(self._room(cluster, self.gpus), len(self.work))
        summary.info["workers"] = self.workers
        summary.info["gpus_per_worker"] = self.gpus

    def _room(self, cluster: Cluster, gpus: int) -> int:
        """The workers asked for (by default, as many as fit), no more than the cluster can hold."""
        resources = self.ray.cluster_resources()
        cpus, gpus_there = resources.get("CPU", 0), int(resources.get("GPU", 0))
        room = int(cpus // cluster.cpus_per_worker)
        if gpus:
            room = min(room, gpus_there)
        if room < 1:
            need = f"{cluster.cpus_per_worker:g} CPU(s)" + (" and a GPU (a shot runs on cuda)" if gpus else "")
            raise DvcpError(f"the Ray cluster ({cpus:g} CPUs, {gpus_there} GPUs) has no room for a worker of {need}")
        if cluster.workers is not None and cluster.workers > room:
            log.warning("the Ray cluster has room for %d worker(s), not %d", room, cluster.workers)
        return min(cluster.workers or room, room)

    def run(self, started: float) -> None:
        """Start the workers and hand out the work until every shot has finished; stop them at the end.

        The summary records the seconds from ``started`` (a ``time.monotonic()``) until every
        worker was ready, and the seconds of colouring after that.
        """
        from .worker import ShotWorker

        name = f"dvcp-batch-frames-{uuid.uuid4().hex}"  # by name: a handle would make restarts fragile
        counter = self.ray.remote(num_cpus=0)(FrameCounter).options(name=name).remote()
        worker = self.ray.remote(
            num_cpus=self.cpus_per_worker, num_gpus=self.gpus, max_restarts=-1, max_task_retries=RETRIES,
        )(ShotWorker)
        actors = [worker.remote(name) for _ in range(self.workers)]
        try:
            try:
                self.ray.get([actor.__ray_ready__.remote() for actor in actors])
            except self.ray.exceptions.RayError as exc:
                raise DvcpError(f"the Ray workers could not start: {_first_line(exc)}") from None
            ready_at = time.monotonic()
            self.summary.info["startup_seconds"] = round(ready_at - started, 1)
            with BatchProgress([shot.status for shot in self.planned]) as progress:
                self._hand_out(actors, counter, progress)
            self.summary.info["seconds"] = round(time.monotonic() - ready_at, 1)
            self.summary.write()
        finally:
            for actor in [*actors, counter]:
                self.ray.kill(actor)

    def _hand_out(self, actors: Sequence[Any], counter: Any, progress: BatchProgress) -> None:
        """Give each idle worker the next piece of work until there is none and all have come back."""
        idle = list(actors)
        in_flight: dict[Any, tuple[Any, int, int | None]] = {}
        while self.work or in_flight:
            while idle and self.work:
                actor = idle.pop()
                shot, part = self.work.popleft()
                in_flight[self._submit(actor, shot, part)] = (actor, shot, part)
            ready, _ = self.ray.wait(list(in_flight), num_returns=1, timeout=POLL_SECONDS)
            progress.frames(self.ray.get(counter.take.remote()))
            for ref in ready:
                actor, shot, part = in_flight.pop(ref)
                idle.append(actor)
                record = self._finished(shot, part, self._result(ref, self._name(shot, part)))
                if record is not None:
                    progress.shot(record.status)

    def _submit(self, actor: Any, shot: int, part: int | None) -> Any:
        planned = self.planned[shot]
        if part is not None:
            return actor.colour.remote(planned.parts[part], self.overwrite)
        return actor.assemble.remote(planned.reel, self.overwrite)

    def _name(self, shot: int, part: int | None) -> str:
        planned = self.planned[shot]
        return planned.parts[part].name if part is not None else f"{planned.job.name} (reassembly)"

    def _result(self, ref: Any, name: str) -> Result:
        """What the worker returned, or a failed result saying why there is none."""
        exceptions = self.ray.exceptions
        try:
            result: Result = self.ray.get(ref)
        except exceptions.RayActorError as exc:
            error = f"its worker process died {RETRIES + 1} times while colouring it ({_first_line(exc)})"
            result = Result(name, "failed", error=error, traceback=str(exc))
        except exceptions.RayTaskError as exc:  # the worker's own code raised: a bug (its text holds the traceback)
            result = replace(failed(name, exc.cause), traceback=str(exc))
        except exceptions.RayError as exc:
            result = Result(name, "failed", error=_first_line(exc), traceback=str(exc))
        if result.status == "failed":
            log.debug("%s failed: %s\n%s", name, result.error, result.traceback)
        return result

    def _finished(self, shot: int, part: int | None, result: Result) -> ShotRecord | None:
        """Take in a part's or a reassembly's result; the shot's record when that finished the shot."""
        planned = self.planned[shot]
        results = self.results[shot]
        if part is not None:
            results[part] = result
            if any(r is None for r in results):
                return None
            if planned.reel is not None and all(r.status != "failed" for r in results if r):
                self.work.appendleft((shot, None))  # reassemble next
                return None
            record = shot_record(planned, [r for r in results if r])
        else:
            record = shot_record(planned, [r for r in results if r], result)
        self.summary.set(shot, record)
        return record


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__

