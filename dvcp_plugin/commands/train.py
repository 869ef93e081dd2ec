"""``dvcp train``: train the learned stages on colour sequences, resume, or export shipped weights.

Running the same command again with the same ``--out`` resumes from ``OUT/last.pt``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..hookspecs import STAGE_KINDS
from ..media.paths import check_writable_folder
from ..training.checkpoints import export_weights
from ..training.config import PHASES, TrainConfig, TrainingError
from ..training.trainer import Trainer, load_dataset
from .flags import parse_stage_options

_DEFAULTS = TrainConfig(data=[], out="")


def _phase_values(text: list[str] | None, kind: type, option: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in text or []:
        phase, sep, value = item.partition("=")
        if not sep or phase not in PHASES:
            raise TrainingError(f"{option} takes PHASE=VALUE with PHASE one of {', '.join(PHASES)}, got {item!r}")
        try:
            values[phase] = kind(value)
        except ValueError:
            raise TrainingError(f"{option} {item!r}: {value!r} is not a valid {kind.__name__}") from None
    return values


def _stage_names(items: list[str] | None) -> dict[str, str]:
    names: dict[str, str] = {}
    for item in items or []:
        kind, sep, name = item.partition("=")
        if not sep or kind not in STAGE_KINDS or not name:
            raise TrainingError(f"--stages takes KIND=NAME with KIND one of {', '.join(STAGE_KINDS)}, got {item!r}")
        names[kind] = name
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Data folders, output folder, schedule and runtime options."""
    parser.add_argument("data", nargs="*", help="sequence folders, or folders of sequence folders")
    parser.add_argument("--out", help="folder for checkpoints (OUT/last.pt) and the loss log")
    parser.add_argument(
        "--licensed-only", metavar="LICENSES_MD",
        help="train only on folders marked 'yes' in the last column of this licence table",
    )
    parser.add_argument("--seed", type=int, default=_DEFAULTS.seed)
    parser.add_argument(
        "--steps", nargs="+", metavar="PHASE=N",
        help=f"steps per phase, phases run in the order {', '.join(PHASES)} "
        f"(default {' '.join(f'{k}={v}' for k, v in _DEFAULTS.steps.items())})",
    )
    parser.add_argument(
        "--lr", nargs="+", metavar="PHASE=LR",
        help=f"peak learning rate per phase (default {' '.join(f'{k}={v:g}' for k, v in _DEFAULTS.lr.items())})",
    )
    parser.add_argument("--batch", type=int, default=_DEFAULTS.batch, help="clips per step")
    parser.add_argument("--crop", type=int, default=_DEFAULTS.crop, help="crop size at the working resolution")
    parser.add_argument(
        "--degrade", type=float, default=_DEFAULTS.degrade,
        help="share of clips given scan-like degradations (grain, flicker, dust, weave, ...) at random strengths",
    )
    parser.add_argument(
        "--exclude", nargs="+", default=[], metavar="NAME",
        help="sequence folders (by name) not to train on, e.g. clips held out for choosing",
    )
    parser.add_argument("--length", type=int, default=_DEFAULTS.length, help="clip frames, local phase")
    parser.add_argument("--rollout", type=int, default=_DEFAULTS.rollout, help="clip frames, refine and joint phases")
    parser.add_argument(
        "--backprop", type=int, default=_DEFAULTS.backprop,
        help="last frames of a refine/joint rollout that gradients flow through (truncated backpropagation)",
    )
    parser.add_argument("--max-stride", type=int, default=_DEFAULTS.max_stride, help="largest frame step in a clip")
    parser.add_argument("--key-stride", type=int, default=_DEFAULTS.key_stride, help="largest frame step, global phase")
    parser.add_argument("--chroma-scale", type=float, default=_DEFAULTS.chroma_scale)
    parser.add_argument(
        "--stages", nargs="+", metavar="KIND=NAME",
        help=f"stage implementations (default {' '.join(f'{k}={v}' for k, v in _DEFAULTS.stages.items())})",
    )
    parser.add_argument(
        "--init", metavar="WEIGHTS",
        help="start the stages from these weights or checkpoint instead of fresh ones (fine-tuning); "
             "the stages and their options must be the run's",
    )
    parser.add_argument(
        "--init-kinds", nargs="+", metavar="KIND",
        help="with --init: take only these stage kinds from it (the others start fresh), e.g. global",
    )
    parser.add_argument("--stage-options", type=parse_stage_options, default={},
                        help='JSON {kind: {option: value}}, e.g. \'{"local": {"kernel_size": 11}}\'')
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (mixed precision on CUDA)")
    parser.add_argument("--no-amp", action="store_true", help="full precision on CUDA")
    parser.add_argument("--threads", type=int, help="CPU threads for torch")
    parser.add_argument("--save-every", type=int, default=_DEFAULTS.save_every, help="checkpoint interval in steps")
    parser.add_argument("--stop-at", type=int, help="stop at this global step (resume later with the same command)")
    parser.add_argument(
        "--export", nargs=2, metavar=("CHECKPOINT", "WEIGHTS"),
        help="write the weights of a checkpoint as a weights file (no optimiser state) and exit; "
             "--stage-options given with it are set on the stages' options",
    )


def run(args: argparse.Namespace) -> int:
    """Train, resume or export."""
    if args.export:
        checkpoint, weights = args.export
        path = export_weights(checkpoint, weights, stage_options=args.stage_options)
        print(f"dvcp train: wrote {path} ({Path(path).stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
        return 0
    if not args.data or not args.out:
        raise TrainingError("give one or more data folders and --out FOLDER (or --export CHECKPOINT WEIGHTS)")
    check_writable_folder(Path(args.out), "--out")
    config = TrainConfig(
        data=[str(Path(d)) for d in args.data],
        out=args.out,
        licensed_only=args.licensed_only,
        init=args.init,
        init_kinds=args.init_kinds,
        seed=args.seed,
        steps={**_DEFAULTS.steps, **_phase_values(args.steps, int, "--steps")},
        lr={**_DEFAULTS.lr, **_phase_values(args.lr, float, "--lr")},
        batch=args.batch,
        crop=args.crop,
        degrade=args.degrade,
        exclude=list(args.exclude),
        length=args.length,
        rollout=args.rollout,
        backprop=args.backprop,
        max_stride=args.max_stride,
        key_stride=args.key_stride,
        chroma_scale=args.chroma_scale,
        stages=_stage_names(args.stages),
        stage_options=args.stage_options,
        device=args.device,
        amp=not args.no_amp,
        threads=args.threads,
        save_every=args.save_every,
    )
    trainer = Trainer(config)
    if trainer.step >= config.total_steps:
        print(f"dvcp train: {config.out} is already trained ({trainer.step} steps)", file=sys.stderr)
        return 0
    dataset = load_dataset(config)
    print(
        f"dvcp train: {len(dataset.names)} sequences, {dataset.total_frames} frames: {', '.join(dataset.names)}",
        file=sys.stderr,
    )
    trainer.dataset = dataset
    path = trainer.run(stop_at=args.stop_at)
    print(f"dvcp train: step {trainer.step}/{config.total_steps}, checkpoint {path}", file=sys.stderr)
    return 0
