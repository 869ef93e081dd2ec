"""The trainer: runs the phases of a :class:`TrainConfig` in order, with checkpoints that resume exactly.

Each phase (see :mod:`dvcp_plugin.training.phases`) gets its own Adam optimiser; ``OUT/last.pt``
(see :mod:`dvcp_plugin.training.checkpoints`) is written every ``save_every`` steps and at the end
of each phase, and ``OUT/train_log.jsonl`` gets the mean losses every ``log_every`` steps.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

import torch
from torch import Tensor, nn
from tqdm import tqdm

from ..hookspecs import STAGE_KINDS
from ..runtime.devices import device_description, resolve_device
from ..stages.build import build_stage, pack_weights
from ..stages.registry import default_registry
from ..stages.weights import load_weights, save_weights
from .checkpoints import CHECKPOINT_NAME, check_compatible, read_checkpoint
from .clips import Batch, ClipDataset
from .config import TrainConfig, TrainingError
from .data import DataError, find_sequences, keep_licensed
from .phases import PHASE_TRAINS, phase_clips, phase_loss, phase_lr_factor

log = logging.getLogger(__name__)

LOG_NAME = "train_log.jsonl"


class Trainer:
    """Runs the schedule of a :class:`TrainConfig`, writing checkpoints to ``config.out``."""

    def __init__(self, config: TrainConfig, dataset: ClipDataset | None = None) -> None:
        self.config = config
        if config.threads:
            torch.set_num_threads(config.threads)
        self.device = resolve_device(config.device, False)
        self.use_amp = bool(config.amp and self.device.type == "cuda")
        self.out = Path(config.out)
        self.registry = default_registry()
        self.trained_kinds = [
            k for k in STAGE_KINDS if self.registry.resolve(k, config.stages[k]).spec.trained
        ]
        self.generator = torch.Generator().manual_seed(config.seed + 1)
        self.step = 0
        self.elapsed = 0.0
        self.phase: str | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self._resume_state: dict[str, Any] | None = None
        checkpoint = self.out / CHECKPOINT_NAME
        if checkpoint.is_file():
            self.modules = self._resume(checkpoint)
        else:
            torch.manual_seed(config.seed)
            init = self._init_states(Path(config.init)) if config.init else {}
            self.modules = {
                kind: build_stage(
                    kind, config.stages[kind], config.stage_options.get(kind), init.get(kind), self.registry,
                    source=f"--init {config.init}" if kind in init else "--stage-options",
                )
                for kind in STAGE_KINDS
            }
        for module in self.modules.values():
            module.to(self.device)
        self.dataset = dataset

    def _init_states(self, path: Path) -> dict[str, Any]:
        """The trained stages' states in ``path`` (those of ``init_kinds``, when given), to start from
        (fine-tuning); names and options must match."""
        data = load_weights(path)
        states = {}
        kinds = self.config.init_kinds or self.trained_kinds
        for kind in (k for k in self.trained_kinds if k in kinds):
            section = data["stages"].get(kind)
            name = self.config.stages[kind]
            options = dict(self.config.stage_options.get(kind, {}))
            if section is None or section["name"] != name or dict(section["options"]) != options:
                held = f"{section['name']!r} with options {section['options']}" if section else "nothing"
                raise TrainingError(
                    f"--init {path}: its {kind} stage is {held}, but this run trains {name!r} with options {options}"
                )
            states[kind] = section["state"]
        return states

    def _resume(self, path: Path) -> dict[str, nn.Module]:
        data = read_checkpoint(path)
        check_compatible(data, self.config, path)
        modules = {}
        for kind in STAGE_KINDS:
            section = data["stages"][kind]
            state = section["state"] if kind in self.trained_kinds else None
            modules[kind] = build_stage(
                kind, section["name"], section["options"], state, self.registry, source=str(path)
            )
        self.step = int(data["step"])
        self.elapsed = float(data.get("elapsed_s", 0.0))
        self.generator.set_state(data["rng"]["sampler"])
        torch.set_rng_state(data["rng"]["torch"])
        self._resume_state = data
        log.info("resuming %s at step %d/%d", path, self.step, self.config.total_steps)
        return modules

    def _start_phase(self, phase: str) -> None:
        """Freeze everything but the phase's stages and give them a fresh optimiser."""
        self.phase = phase
        params: list[nn.Parameter] = []
        for kind, module in self.modules.items():
            train = kind in PHASE_TRAINS[phase] and kind in self.trained_kinds
            module.requires_grad_(train).train(train)
            if train:
                params.extend(module.parameters())
        if not params:
            raise TrainingError(f"phase {phase!r} has no trainable stage with the chosen stages")
        self.optimizer = torch.optim.Adam(params, lr=self.config.lr[phase])
        state = self._resume_state
        if state is not None and state.get("phase") == phase and state.get("optimizer"):
            self.optimizer.load_state_dict(state["optimizer"])
            if state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
        self._resume_state = None

    def _loss(self, phase: str, batch: Batch) -> tuple[Tensor, dict[str, float]]:
        return phase_loss(phase, self.modules, batch, self.config)

    def _clip(self, phase: str) -> Batch:
        if self.dataset is None:
            raise TrainingError("no training data loaded")
        length, stride = phase_clips(phase, self.config)
        return self.dataset.sample(self.config.batch, length, stride, self.generator).to(self.device)

    def train_step(self) -> dict[str, float]:
        """One optimisation step of the current phase; returns the losses."""
        phase, index, length = self.config.phase_at(self.step)
        if phase != self.phase:
            self._start_phase(phase)
        assert self.optimizer is not None
        lr = self.config.lr[phase] * phase_lr_factor(index, length)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        clip = self._clip(phase)
        with torch.autocast("cuda", dtype=torch.float16, enabled=self.use_amp):
            loss, parts = self._loss(phase, clip)
        if not torch.isfinite(loss):
            raise TrainingError(f"loss is {loss.item()} at step {self.step} ({phase}); lower the learning rate")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        nn.utils.clip_grad_norm_(params, 1.0)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.step += 1
        return parts

    def run(self, stop_at: int | None = None, progress: bool = True) -> Path:
        """Train until the schedule ends (or global step ``stop_at``); returns the checkpoint path."""
        cfg = self.config
        end = min(cfg.total_steps, stop_at) if stop_at is not None else cfg.total_steps
        self.out.mkdir(parents=True, exist_ok=True)
        checkpoint = self.out / CHECKPOINT_NAME
        if self.step >= end:
            return checkpoint
        bar = tqdm(
            total=cfg.total_steps, initial=self.step, file=sys.stderr, disable=not progress,
            dynamic_ncols=True, mininterval=0.5 if sys.stderr.isatty() else 30.0, unit="step",
        )
        started = time.monotonic()
        try:
            with open(self.out / LOG_NAME, "a", encoding="utf-8") as log:
                losses = _LossLog(log)
                while self.step < end:
                    parts = self.train_step()
                    losses.add(parts)
                    bar.update(1)
                    bar.set_postfix({"phase": self.phase, **{k: f"{v:.4f}" for k, v in parts.items()}}, refresh=False)
                    phase_done = self.step == end or cfg.phase_at(self.step)[0] != self.phase
                    if self.step % cfg.log_every == 0 or phase_done:
                        losses.write(self.step, self.phase, self.elapsed + time.monotonic() - started)
                    if self.step % cfg.save_every == 0 or phase_done:
                        self.elapsed += time.monotonic() - started
                        started = time.monotonic()
                        self.save(checkpoint)
                    if self.phase is not None and self.step == cfg.phase_end(self.phase):
                        shutil.copyfile(checkpoint, self.out / f"after-{self.phase}.pt")
        finally:
            bar.close()
        return checkpoint

    def checkpoint_dict(self) -> dict[str, Any]:
        """The checkpoint of the current state (weights dict + training state)."""
        cfg = self.config
        data = pack_weights(
            {k: self.modules[k] for k in self.trained_kinds},
            cfg.stages,
            cfg.stage_options,
            cfg.chroma_scale,
            meta={"trained": self.step > 0, "steps": self.step},
            fmt="dvcp-checkpoint",
        )
        for kind in STAGE_KINDS:
            if kind not in self.trained_kinds:
                data["stages"][kind] = {
                    "name": cfg.stages[kind], "options": dict(cfg.stage_options.get(kind, {})), "state": {}
                }
        data.update(
            step=self.step,
            phase=self.phase,
            optimizer=self.optimizer.state_dict() if self.optimizer is not None else {},
            scaler=self.scaler.state_dict() if self.use_amp else {},
            train_config=asdict(cfg),
            rng={"sampler": self.generator.get_state(), "torch": torch.get_rng_state()},
            elapsed_s=self.elapsed,
            hardware=device_description(self.device),
        )
        return data

    def save(self, path: Path) -> Path:
        """Write the checkpoint atomically."""
        return save_weights(path, self.checkpoint_dict())


class _LossLog:
    """Mean losses since the last line, written as one JSON line per ``write``."""

    def __init__(self, log: IO[str]) -> None:
        self.log = log
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, parts: dict[str, float]) -> None:
        for key, value in parts.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.count += 1

    def write(self, step: int, phase: str | None, elapsed: float) -> None:
        record = {"step": step, "phase": phase, "elapsed_s": round(elapsed, 1),
                  **{k: v / self.count for k, v in self.sums.items()}}
        self.log.write(json.dumps(record) + "\n")
        self.log.flush()
        self.sums, self.count = {}, 0


def load_dataset(config: TrainConfig) -> ClipDataset:
    """The training clips of ``config`` (licence filter and exclusions applied), preloaded."""
    sequences = find_sequences(config.data)
    unknown = sorted(set(config.exclude) - {s.name for s in sequences})
    if unknown:
        raise DataError(f"--exclude names no sequence of the data: {', '.join(unknown)}")
    sequences = [s for s in sequences if s.name not in config.exclude]
    if config.licensed_only:
        sequences = keep_licensed(sequences, config.licensed_only)
    return ClipDataset(sequences, config.chroma_scale, config.crop, min_frames=3, degrade=config.degrade)
