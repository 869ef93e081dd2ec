"""The training configuration: the phases, their schedule, and everything else that determines a run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import DvcpError
from ..hookspecs import STAGE_KINDS
from ..stages.build import DEFAULT_CHROMA_SCALE, DEFAULT_STAGES

PHASES = ("local", "global", "refine", "joint")
# settings that may differ between a run and its resumption (they do not change the result)
DEFAULT_STEPS = {"local": 300, "global": 1000, "refine": 250, "joint": 150}
DEFAULT_LR = {"local": 3e-4, "global": 1e-3, "refine": 1e-3, "joint": 2e-4}
RUNTIME_FIELDS = ("out", "device", "amp", "threads", "save_every", "log_every")


class TrainingError(DvcpError):
    """A training setup or checkpoint that cannot be used."""


@dataclass
class TrainConfig:
    """Everything that determines a training run. Saved in every checkpoint."""

    data: list[str]
    out: str
    licensed_only: str | None = None
    exclude: list[str] = field(default_factory=list)  # sequence names held out (for choosing)
    init: str | None = None  # weights (or a checkpoint) the stages start from, instead of fresh ones
    init_kinds: list[str] | None = None  # the stage kinds taken from ``init`` (None: every trained kind)
    seed: int = 0
    steps: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_STEPS))
    lr: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_LR))
    batch: int = 4
    crop: int = 192
    degrade: float = 0.0  # share of clips given scan-like degradations (training/degradations.py)
    length: int = 6
    rollout: int = 16
    backprop: int = 5
    max_stride: int = 4
    key_stride: int = 26
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
        unknown = sorted((set(self.steps) | set(self.lr)) - set(PHASES))
        if unknown:
            raise TrainingError(f"unknown training phase(s) {unknown}; the phases are {', '.join(PHASES)}")
        self.steps = {phase: int(self.steps.get(phase, 0)) for phase in PHASES}
        if any(n < 0 for n in self.steps.values()) or not sum(self.steps.values()):
            raise TrainingError(f"phase steps must be >= 0 and not all zero, got {self.steps}")
        self.lr = {phase: float(self.lr.get(phase, DEFAULT_LR[phase])) for phase in PHASES}
        for name in ("batch", "max_stride", "key_stride", "save_every", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TrainingError(f"{name} must be a positive whole number, got {value!r}")
        if self.length < 3 or self.rollout < 3:
            raise TrainingError("clips must have at least 3 frames (length and rollout >= 3)")
        if not 1 <= self.backprop < self.rollout:
            raise TrainingError(
                f"backprop must be at least 1 and less than rollout ({self.rollout}), got {self.backprop}"
            )
        unknown_kinds = sorted(set(self.init_kinds or ()) - set(STAGE_KINDS))
        if unknown_kinds:
            raise TrainingError(f"--init-kinds: unknown stage kind(s) {', '.join(unknown_kinds)}; kinds: "
                                f"{', '.join(STAGE_KINDS)}")
        if not 0.0 <= self.degrade <= 1.0:
            raise TrainingError(f"degrade is the share of degraded clips, from 0 to 1, got {self.degrade}")
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

    def phase_end(self, phase: str) -> int:
        """The global step at which ``phase`` ends (``OUT/after-PHASE.pt`` is written then)."""
        return sum(self.steps[p] for p in PHASES[: PHASES.index(phase) + 1])

    def model_dict(self) -> dict[str, Any]:
        """The settings that define the result (everything but the runtime fields)."""
        return {k: v for k, v in asdict(self).items() if k not in RUNTIME_FIELDS}
