"""Training checkpoints: reading one, checking it against the run asked for, exporting its weights.

A checkpoint is a weights file (format ``dvcp-checkpoint``) plus the step, the phase, the optimiser
and sampler states, the elapsed time and the training configuration, so any checkpoint loads as
weights and a run resumes where it stopped with the same result as an uninterrupted run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..hookspecs import STAGE_KINDS
from ..stages.build import build_stage
from ..stages.weights import load_weights, save_weights
from .config import RUNTIME_FIELDS, TrainConfig, TrainingError

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "last.pt"


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a training checkpoint; corrupt files and plain weights files are clear errors."""
    data = load_weights(path)
    missing = {"step", "train_config", "rng"} - data.keys()
    if data.get("format") != "dvcp-checkpoint" or missing:
        raise TrainingError(
            f"{path} is a weights file, not a training checkpoint (it lacks {', '.join(sorted(missing))})"
            if missing else f"{path} is not a training checkpoint"
        )
    return data


def check_compatible(data: Mapping[str, Any], config: TrainConfig, path: str | Path) -> None:
    """Raise a TrainingError naming what differs between a checkpoint and the run asked for."""
    for kind in STAGE_KINDS:
        section = data["stages"].get(kind)
        if section is None:
            raise TrainingError(f"checkpoint {path} has no {kind} stage")
        want_options = dict(config.stage_options.get(kind, {}))
        if section["name"] != config.stages[kind] or dict(section["options"]) != want_options:
            raise TrainingError(
                f"checkpoint {path} holds the {kind} stage {section['name']!r} with options "
                f"{dict(section['options'])}, but this run asks for {config.stages[kind]!r} with options "
                f"{want_options}; use another --out folder or the same stages"
            )
    try:
        saved = TrainConfig(**data["train_config"]).model_dict()
    except (TypeError, TrainingError) as exc:
        raise TrainingError(f"checkpoint {path} holds an unreadable training configuration: {exc}") from exc
    wanted = config.model_dict()
    differ = sorted(k for k in wanted if saved.get(k) != wanted[k])
    if differ:
        details = "; ".join(f"{k}: checkpoint {saved.get(k)!r}, now {wanted[k]!r}" for k in differ)
        raise TrainingError(
            f"checkpoint {path} was written by a different training setup ({details}); "
            "use another --out folder or repeat the original options"
        )


def export_weights(
    checkpoint: str | Path, out: str | Path, stage_options: Mapping[str, Mapping[str, Any]] | None = None
) -> Path:
    """Write the weights of a training checkpoint as a ``dvcp-weights`` file without training state.

    ``stage_options`` ({kind: {option: value}}) are set on top of the stages' options, e.g. inference
    settings chosen on held-out clips; every stage is built with its options before anything is written.
    """
    data = read_checkpoint(checkpoint)
    stages = {kind: dict(section) for kind, section in data["stages"].items()}
    for kind, options in (stage_options or {}).items():
        if kind not in stages:
            raise TrainingError(f"checkpoint {checkpoint} has no {kind} stage to set options on")
        stages[kind]["options"] = {**stages[kind]["options"], **options}
        build_stage(kind, stages[kind]["name"], stages[kind]["options"], stages[kind]["state"])
    cfg = data["train_config"]
    total = sum(int(n) for n in cfg["steps"].values())
    if int(data["step"]) < total:
        log.info("note: %s stopped at step %s of %d", checkpoint, data["step"], total)
    weights = {
        "format": "dvcp-weights",
        "version": data["version"],
        "stages": stages,
        "chroma_scale": data["chroma_scale"],
        "meta": {
            "trained": True,
            "steps": int(data["step"]),
            "schedule": dict(cfg["steps"]),
            "train_config": {k: v for k, v in cfg.items() if k not in RUNTIME_FIELDS},
            "elapsed_s": round(float(data.get("elapsed_s", 0.0)), 1),
            "hardware": data.get("hardware", ""),
            "torch": str(torch.__version__),
            "export_stage_options": {kind: dict(options) for kind, options in (stage_options or {}).items()},
        },
    }
    return save_weights(out, weights)
