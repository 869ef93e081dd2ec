"""Training the learned stages in phases, with checkpoints that resume exactly, and weights export.

The schedule (reasons in ``docs/TRAINING.md``) runs these phases in order, each with its own Adam
optimiser and a cosine learning-rate decay:

``local``
    The local stage alone: a recurrent rollout over T frames that starts from the true chroma of
    the first frame and feeds its own output back; L1 to the true chroma of every later frame.
``global``
    The matching encoder alone, through the differentiable stand-in of hard matching
    (:meth:`GlobalMatching.soft_forward`): key = the first frame of the clip, targets at distances
    of several frames; L1.
``refine``
    Local and global frozen, the refine stage trained on rollouts of :func:`propagate_step` (hard
    matching exactly as at inference, final output fed back); the paper's losses, L1 on the final
    and on the local estimate.
``joint``
    Local and refine together on the same rollouts and losses.

A checkpoint is a weights file (format ``dvcp-checkpoint``) plus the step, the phase, the optimiser
and sampler states, the elapsed time and the training configuration, so any checkpoint loads as
weights and a run resumes where it stopped with the same result as an uninterrupted run.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from .errors import DvcpError
from .hookspecs import STAGE_KINDS
from .models.losses import dvcp_losses
from .models.propagation import propagate_step
from .stages.registry import default_registry
from .stages.build import DEFAULT_CHROMA_SCALE, DEFAULT_STAGES, build_stage, pack_weights
from .train_data import ClipDataset, find_sequences, keep_licensed
from .stages.weights import load_weights, save_weights

PHASES = ("local", "global", "refine", "joint")
# the stage kinds each phase optimises
PHASE_TRAINS: dict[str, tuple[str, ...]] = {
    "local": ("local",),
    "global": ("global",),
    "refine": ("refine",),
    "joint": ("local", "refine"),
}
CHECKPOINT_NAME = "last.pt"
LOG_NAME = "train_log.jsonl"
WARMUP_STEPS = 100  # at most; a tenth of a short phase
# settings that may differ between a run and its resumption (they do not change the result)
RUNTIME_FIELDS = ("out", "device", "amp", "threads", "save_every", "log_every")


class TrainingError(DvcpError):
    """A training setup or checkpoint that cannot be used."""


@dataclass
class TrainConfig:
    """Everything that determines a training run. Saved in every checkpoint."""

    data: list[str]
    out: str
    licensed_only: str | None = None
    seed: int = 0
    steps: dict[str, int] = field(default_factory=lambda: {"local": 2400, "global": 600, "refine": 500, "joint": 400})
    lr: dict[str, float] = field(
        default_factory=lambda: {"local": 1e-3, "global": 1e-3, "refine": 1e-3, "joint": 3e-4}
    )
    batch: int = 8
    crop: int = 80
    length: int = 4
    rollout: int = 6
    max_stride: int = 3
    key_stride: int = 6
    temperature: float = 0.05
    local_weight: float = 1.0
    stages: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_STAGES))
    stage_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    chroma_scale: float = DEFAULT_CHROMA_SCALE
    device: str = "cpu"
    amp: bool = True
    threads: int | None = None
    save_every: int = 100
    log_every: int = 25

    def __post_init__(self) -> None:
        unknown = sorted(set(self.steps) - set(PHASES))
        if unknown:
            raise TrainingError(f"unknown training phase(s) {unknown}; the phases are {', '.join(PHASES)}")
        self.steps = {phase: int(self.steps.get(phase, 0)) for phase in PHASES}
        if any(n < 0 for n in self.steps.values()) or not sum(self.steps.values()):
            raise TrainingError(f"phase steps must be >= 0 and not all zero, got {self.steps}")
        self.lr = {phase: float(self.lr.get(phase, 1e-3)) for phase in PHASES}
        if self.length < 3 or self.rollout < 3:
            raise TrainingError("clips must have at least 3 frames (length and rollout >= 3)")
        if self.crop < 16 or self.crop % 8:
            raise TrainingError(f"crop must be a multiple of 8 and at least 16, got {self.crop}")
        self.stages = {**DEFAULT_STAGES, **self.stages}

    @property
    def total_steps(self) -> int:
        """Steps of the whole schedule."""
        return sum(self.steps.values())

    def phase_at(self, step: int) -> tuple[str, int, int]:
        """(phase, step within the phase, length of the phase) of global ``step`` (0-based)."""
        start = 0
        for phase in PHASES:
            if step < start + self.steps[phase]:
                return phase, step - start, self.steps[phase]
            start += self.steps[phase]
        raise TrainingError(f"step {step} is past the end of the schedule ({self.total_steps} steps)")

    def model_dict(self) -> dict[str, Any]:
        """The settings that define the result (everything but the runtime fields)."""
        return {k: v for k, v in asdict(self).items() if k not in RUNTIME_FIELDS}


def hardware_description(device: torch.device) -> str:
    """The processor or GPU a run used, in words."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs, {torch.get_num_threads()} torch threads"


def _l1_rollout_local(local: nn.Module, clip: Tensor) -> tuple[Tensor, dict[str, float]]:
    """Local stage rolled out from the first frame's true chroma, its own output fed back."""
    grey, chroma = clip[:, :, :1], clip[:, :, 1:]
    prev = chroma[:, 0]
    total = clip.new_zeros(())
    for t in range(1, clip.shape[1]):
        prev = local(grey[:, t - 1], grey[:, t], prev)
        total = total + F.l1_loss(prev, chroma[:, t])
    total = total / (clip.shape[1] - 1)
    return total, {"local": total.item(), "total": total.item()}


def _l1_soft_global(global_stage: nn.Module, clip: Tensor, temperature: float) -> tuple[Tensor, dict[str, float]]:
    """Soft matching from the first frame (key) to every other frame of the clip."""
    grey, chroma = clip[:, :, :1], clip[:, :, 1:]
    key = global_stage.prepare_key(grey[:, 0], chroma[:, 0])
    total = clip.new_zeros(())
    for t in range(1, clip.shape[1]):
        total = total + F.l1_loss(global_stage.soft_forward(grey[:, t], key, temperature), chroma[:, t])
    total = total / (clip.shape[1] - 1)
    return total, {"global": total.item(), "total": total.item()}


def _rollout_full(
    modules: Mapping[str, nn.Module], clip: Tensor, local_weight: float
) -> tuple[Tensor, dict[str, float]]:
    """The method as at inference (hard matching, final fed back) with the paper's losses."""
    grey, chroma = clip[:, :, :1], clip[:, :, 1:]
    with torch.no_grad():
        key = modules["global"].prepare_key(grey[:, 0], chroma[:, 0])
    prev = chroma[:, 0]
    total = clip.new_zeros(())
    sums = {"final": 0.0, "local": 0.0}
    steps = clip.shape[1] - 1
    for t in range(1, clip.shape[1]):
        out = propagate_step(
            modules["local"], modules["global"], modules["refine"], key, grey[:, t - 1], grey[:, t], prev
        )
        loss, parts = dvcp_losses(out.final, out.local, chroma[:, t], local_weight)
        total = total + loss
        sums["final"] += parts["final"] / steps
        sums["local"] += parts["local"] / steps
        prev = out.final
    total = total / steps
    return total, {**sums, "total": total.item()}


def phase_lr_factor(index: int, length: int) -> float:
    """Learning-rate factor at step ``index`` of a phase: linear warm-up, then cosine decay to 0.1."""
    warmup = max(1, min(WARMUP_STEPS, length // 10))
    if index < warmup:
        return (index + 1) / warmup
    progress = (index - warmup) / max(1, length - warmup)
    return 0.1 + 0.45 * (1.0 + math.cos(math.pi * progress))


class Trainer:
    """Runs the schedule of a :class:`TrainConfig`, writing checkpoints to ``config.out``."""

    def __init__(self, config: TrainConfig, dataset: ClipDataset | None = None) -> None:
        self.config = config
        if config.threads:
            torch.set_num_threads(config.threads)
        self.device = self._device(config.device)
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
        checkpoint = self.out / CHECKPOINT_NAME
        if checkpoint.is_file():
            self.modules = self._resume(checkpoint)
        else:
            torch.manual_seed(config.seed)
            self.modules = {
                kind: build_stage(kind, config.stages[kind], config.stage_options.get(kind), registry=self.registry)
                for kind in STAGE_KINDS
            }
        for module in self.modules.values():
            module.to(self.device)
        self.dataset = dataset

    @staticmethod
    def _device(name: str) -> torch.device:
        from .runtime.engine import resolve_device

        return resolve_device(name, False)

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
        print(f"dvcp train: resuming {path} at step {self.step}/{self.config.total_steps}", file=sys.stderr)
        return modules

    def _start_phase(self, phase: str) -> None:
        """Freeze everything but the phase's stages and give them a fresh optimiser."""
        self.phase = phase
        params = []
        for kind, module in self.modules.items():
            train = kind in PHASE_TRAINS[phase] and kind in self.trained_kinds
            module.requires_grad_(train).train(train)
            if train:
                params.extend(module.parameters())
        if not params:
            raise TrainingError(f"phase {phase!r} has no trainable stage with the chosen stages")
        self.optimizer = torch.optim.Adam(params, lr=self.config.lr[phase])
        state = getattr(self, "_resume_state", None)
        if state is not None and state.get("phase") == phase and state.get("optimizer"):
            self.optimizer.load_state_dict(state["optimizer"])
            if state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
        self._resume_state = None

    def _loss(self, phase: str, clip: Tensor) -> tuple[Tensor, dict[str, float]]:
        cfg = self.config
        if phase == "local":
            return _l1_rollout_local(self.modules["local"], clip)
        if phase == "global":
            return _l1_soft_global(self.modules["global"], clip, cfg.temperature)
        return _rollout_full(self.modules, clip, cfg.local_weight)

    def _clip(self, phase: str) -> Tensor:
        cfg = self.config
        if self.dataset is None:
            raise TrainingError("no training data loaded")
        length = {"local": cfg.length, "global": cfg.length}.get(phase, cfg.rollout)
        stride = cfg.key_stride if phase == "global" else cfg.max_stride
        return self.dataset.sample(cfg.batch, length, stride, self.generator).to(self.device)

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
        sums: dict[str, float] = {}
        count = 0
        started = time.monotonic()
        try:
            with open(self.out / LOG_NAME, "a", encoding="utf-8") as log:
                while self.step < end:
                    parts = self.train_step()
                    for key, value in parts.items():
                        sums[key] = sums.get(key, 0.0) + value
                    count += 1
                    bar.update(1)
                    bar.set_postfix({"phase": self.phase, **{k: f"{v:.4f}" for k, v in parts.items()}}, refresh=False)
                    phase_done = self.step == end or cfg.phase_at(self.step)[0] != self.phase
                    if self.step % cfg.log_every == 0 or phase_done:
                        record = {"step": self.step, "phase": self.phase,
                                  "elapsed_s": round(self.elapsed + time.monotonic() - started, 1),
                                  **{k: v / count for k, v in sums.items()}}
                        log.write(json.dumps(record) + "\n")
                        log.flush()
                        sums, count = {}, 0
                    if self.step % cfg.save_every == 0 or phase_done:
                        self.elapsed += time.monotonic() - started
                        started = time.monotonic()
                        self.save(checkpoint)
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
            hardware=hardware_description(self.device),
        )
        return data

    def save(self, path: Path) -> Path:
        """Write the checkpoint atomically."""
        return save_weights(path, self.checkpoint_dict())


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


def load_dataset(config: TrainConfig) -> ClipDataset:
    """The training clips of ``config`` (licence filter applied), preloaded."""
    sequences = find_sequences(config.data)
    if config.licensed_only:
        sequences = keep_licensed(sequences, config.licensed_only)
    return ClipDataset(sequences, config.chroma_scale, config.crop, min_frames=3)


def export_weights(checkpoint: str | Path, out: str | Path) -> Path:
    """Write the weights of a training checkpoint as a ``dvcp-weights`` file without training state."""
    data = read_checkpoint(checkpoint)
    cfg = data["train_config"]
    total = sum(int(n) for n in cfg["steps"].values())
    if int(data["step"]) < total:
        print(
            f"dvcp train: note: {checkpoint} stopped at step {data['step']} of {total}", file=sys.stderr
        )
    weights = {
        "format": "dvcp-weights",
        "version": data["version"],
        "stages": data["stages"],
        "chroma_scale": data["chroma_scale"],
        "meta": {
            "trained": True,
            "steps": int(data["step"]),
            "schedule": dict(cfg["steps"]),
            "train_config": {k: v for k, v in cfg.items() if k not in RUNTIME_FIELDS},
            "elapsed_s": round(float(data.get("elapsed_s", 0.0)), 1),
            "hardware": data.get("hardware", ""),
            "torch": str(torch.__version__),
        },
    }
    return save_weights(out, weights)


__all__ = [
    "PHASES",
    "TrainConfig",
    "Trainer",
    "TrainingError",
    "check_compatible",
    "export_weights",
    "load_dataset",
    "read_checkpoint",
]
