"""``dvcp batch``: colour every shot of a jobs file on Ray, on this machine or on a cluster."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from ..batch.driver import Cluster, import_ray, run_batch
from ..batch.jobs import ShotJob, check_devices, in_jobs_words, read_jobs
from ..batch.plan import plan_shots
from ..batch.summary import Summary
from ..media.output_lock import OutputLock


def _positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    """An argparse type: a positive ``kind``."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text!r} is not a positive {kind.__name__}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The jobs file, where Ray runs and how wide, and the summary file."""
    parser.add_argument("jobs", type=Path, help="jobs file (TOML): one [[shot]] table per shot (see docs/BATCH.md)")
    parser.add_argument(
        "--address", metavar="ADDRESS",
        help="join a running Ray cluster: 'auto' (this machine is one of its nodes) or ray://HOST:10001 "
        "(default: start Ray on this machine for this run)",
    )
    parser.add_argument(
        "--workers", type=_positive(int), metavar="N",
        help="Ray actors, each holding one engine and colouring one shot at a time "
        "(default: one per CPU, or one per GPU when shots run on cuda)",
    )
    parser.add_argument(
        "--cpus-per-worker", type=_positive(float), default=1.0, metavar="C",
        help="CPUs Ray gives each worker, and the threads it colours with (default 1)",
    )
    parser.add_argument(
        "--device", choices=("cpu", "cuda"),
        help="device of the shots that name none (replaces [defaults]); cuda asks Ray for one GPU per worker",
    )
    parser.add_argument(
        "--summary", type=Path,
        help="summary file (JSON) with every shot's frames, seconds, fps, status and error "
        "(default: JOBS.summary.json beside the jobs file)",
    )
    parser.add_argument("--overwrite", action="store_true", help="recolour every shot instead of resuming")
    parser.add_argument(
        "--resume-anyway", action="store_true",
        help="resume shots made by another dvcp version or on another device, keeping their frames",
    )


# the words of a message's advice on options: a jobs file's keys (`half = false`)
reword = in_jobs_words


def run(args: argparse.Namespace) -> int:
    """Colour the jobs file's shots; exit 1 when the file is bad or any shot failed."""
    import_ray()
    jobs = read_jobs(args.jobs, args.device)
    check_devices(jobs, local=args.address is None)
    with ExitStack() as locks:  # every output is this run's alone until it ends
        for job in jobs:
            locks.enter_context(OutputLock(job.output, f"{job.label}: the output"))
        return _run_batch(args, jobs)


def _run_batch(args: argparse.Namespace, jobs: list[ShotJob]) -> int:
    """The work of :func:`run`, holding the lock of every output."""
    planned = plan_shots(jobs, args.overwrite, args.resume_anyway)
    path = args.summary or args.jobs.with_name(f"{args.jobs.stem}.summary.json")
    info = {
        "jobs": str(args.jobs.absolute()), "address": args.address or "local",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    summary = Summary(path, planned, info)
    cluster = Cluster(address=args.address, workers=args.workers, cpus_per_worker=args.cpus_per_worker)
    run_batch(planned, cluster, summary, args.overwrite)
    totals = summary.totals()
    for record in summary.records:
        if record.status == "failed":
            print(f"dvcp batch: shot {record.name} failed: {in_jobs_words(str(record.error))}", file=sys.stderr)
    print(
        f"{totals['done']} shot(s) coloured, {totals['skipped']} already finished, {totals['failed']} failed; "
        f"{totals['written']} frames written; summary: {path}"
    )
    return 1 if totals["failed"] else 0
