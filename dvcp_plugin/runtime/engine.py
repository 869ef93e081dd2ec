"""The engine: the three stages on one device, run frame by frame over a shot.

Frames enter at full resolution as luma in [0, 1] and chroma centred on 0 (see
:mod:`dvcp_plugin.models.color`). The engine works at the *chroma working resolution*
(``chroma_scale`` × the input size): grey frames are downscaled once, every stage runs there, and
the final chroma is upsampled back to the input size for output. Motion-compensated stages also
get each grey at the motion resolution (see :mod:`dvcp_plugin.models.resolution`). The state a
shot needs is the keyframe's :class:`KeyState` (computed once per keyframe) and the previous final
chroma.
"""

from __future__ import annotations

import functools
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import DvcpError
from ..hookspecs import STAGE_KINDS
from ..models.global_stage import KeyChromaEstimate, KeyState
from ..models.propagation import StepInputs, StepOutput, chain_step, prepare_step, refine_step
from ..models.resolution import Grey, downscale, grey_pyramid, motion_scale, working_size
from ..options import EngineOptions
from ..stages.build import DEFAULT_CHROMA_SCALE, DEFAULT_STAGES, build_stage
from ..stages.registry import StageRegistry, default_registry
from ..stages.weights import find_weights, load_weights
from .devices import resolve_device
from .threads import ThreadTeam

__all__ = ["Engine", "EngineOptions", "Grey", "KeyState", "StepInputs", "StepOutput"]


GLOBAL_ESTIMATES = ("stage", "key")


def _on_team[T](method: Callable[..., T]) -> Callable[..., T]:
    """An engine method run with the engine's torch threads (see :meth:`Engine.run`)."""

    @functools.wraps(method)
    def on_team(self: Engine, *args: Any) -> T:
        return self.run(method, self, *args)

    return on_team


def resolved_options(options: EngineOptions, weights: Mapping[str, Any]) -> EngineOptions:
    """``options`` with what a weights file (``weights``, as read) decides where they give nothing:
    the stage names (the file's stages, else the defaults) and the chroma scale."""
    stages = weights["stages"]
    names: dict[str, Any] = {
        f"{kind}_stage": options.stage_name(kind) or (stages.get(kind) or {}).get("name") or DEFAULT_STAGES[kind]
        for kind in STAGE_KINDS
    }
    scale = options.chroma_scale if options.chroma_scale is not None else weights.get("chroma_scale")
    return replace(options, **names, chroma_scale=DEFAULT_CHROMA_SCALE if scale is None else scale)


class Engine:
    """Owns the local, global and refine stages, the device and the working resolution.

    ``options`` say how to build it; the stage names and the chroma scale they leave open come from
    the weights file (:attr:`options` holds them all, :func:`resolved_options`). ``global_estimate``
    "key" replaces the global estimate by the keyframe's chroma, its confidence kept (an ablation).
    It changes no process-wide state. With ``options.threads`` its torch work runs on threads of
    its own, each with that many torch CPU threads (a :class:`~dvcp_plugin.runtime.threads.ThreadTeam`),
    whichever thread asks for it; without, on the caller's thread as it is. It leaves cuDNN's flags
    alone (forward convolutions chosen by cuDNN's heuristics are deterministic).
    """

    def __init__(
        self, options: EngineOptions | None = None, registry: StageRegistry | None = None,
        global_estimate: str = "stage",
    ) -> None:
        options = options or EngineOptions()
        if global_estimate not in GLOBAL_ESTIMATES:
            raise DvcpError(f"global_estimate must be one of {', '.join(GLOBAL_ESTIMATES)}, got {global_estimate!r}")
        self.device = resolve_device(options.device, options.half)
        self.dtype = torch.float16 if options.half else torch.float32
        self.weights_path = find_weights(options.weights)
        data = load_weights(self.weights_path)
        self.options = resolved_options(options, data)
        self.chroma_scale: float = self.options.chroma_scale  # type: ignore[assignment]
        self.global_estimate = global_estimate
        modules: dict[str, torch.nn.Module] = {}
        registry = registry or default_registry()
        for kind in STAGE_KINDS:
            modules[kind] = self._build(kind, data, registry)
        if global_estimate == "key":
            modules["global"] = KeyChromaEstimate(modules["global"])
        # stage modules, as their kinds' protocols say (models/propagation.py: LocalStage, GlobalStage)
        self.local: Any = modules["local"]
        self.global_: Any = modules["global"]
        self.refine: torch.nn.Module = modules["refine"]
        self.stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()
        self._team = ThreadTeam(self.options.threads) if self.options.threads is not None else None

    def run[T](self, work: Callable[..., T], *args: Any) -> T:
        """``work(*args)`` with the engine's torch threads (on its thread team, when it has a count)."""
        return self._team.run(work, *args) if self._team is not None else work(*args)

    @property
    def stage_names(self) -> dict[str, str]:
        """The stage built for each kind."""
        return {kind: str(self.options.stage_name(kind)) for kind in STAGE_KINDS}

    def _build(self, kind: str, data: dict[str, Any], registry: StageRegistry) -> torch.nn.Module:
        section = data["stages"].get(kind)
        name = str(self.options.stage_name(kind))
        registered = registry.resolve(kind, name)
        same = section is not None and section["name"] == name
        given: Mapping[str, Mapping[str, Any]] = self.options.stage_options or {}
        options = {**(section["options"] if same else {}), **given.get(kind, {})}
        if registered.spec.trained and not same:
            raise DvcpError(
                f"weights file {self.weights_path} has no trained weights for the {kind} stage "
                f"{name!r} (it holds {section['name']!r})" if section else
                f"weights file {self.weights_path} has no {kind} stage"
            )
        state = section["state"] if registered.spec.trained else None
        origins = [f"weights file {self.weights_path}"] if same and section["options"] else []
        origins += ["stage_options"] if kind in given else []
        module = build_stage(kind, name, options, state, registry, source=" and ".join(origins) or "defaults")
        # channels-last convolutions: about a quarter less CPU time per frame (oneDNN), and the
        # layout tensor cores want in half precision
        return (
            module.to(self.device, self.dtype, memory_format=torch.channels_last)  # type: ignore[call-overload]
            .eval()
            .requires_grad_(False)
        )

    def _count(self, key: str) -> None:
        with self._stats_lock:
            self.stats[key] += 1

    def working_size(self, height: int, width: int) -> tuple[int, int]:
        """The chroma working resolution for an input of ``height`` × ``width``."""
        return working_size(height, width, self.chroma_scale)

    def motion_size(self, height: int, width: int) -> tuple[int, int]:
        """The resolution motion is estimated at for an input of ``height`` × ``width``."""
        scale = motion_scale(height, width, self.chroma_scale)
        return working_size(height, width, scale)

    @staticmethod
    def _batched(image: torch.Tensor) -> torch.Tensor:
        while image.dim() < 4:
            image = image.unsqueeze(0)
        return image

    def _upload(self, image: torch.Tensor) -> torch.Tensor:
        """(H,W), (C,H,W) or (1,C,H,W) -> (1,C,H,W) float32 on the device (from pinned memory to a GPU)."""
        image = self._batched(image).float()
        if self.device.type == "cuda" and not image.is_cuda:
            return image.pin_memory().to(self.device, non_blocking=True)
        return image.to(self.device)

    @_on_team
    def to_working(self, image: torch.Tensor) -> torch.Tensor:
        """(H,W), (C,H,W) or (1,C,H,W) full-resolution float -> (1,C,h,w) on the device.

        The downscaling runs in float32 whatever the engine's precision; its result is then cast.
        """
        image = self._upload(image)
        return downscale(image, self.working_size(image.shape[-2], image.shape[-1])).to(self.dtype)

    @_on_team
    def to_grey(self, grey: torch.Tensor) -> Grey:
        """A full-resolution grey (H,W) -> :class:`Grey` at the working and motion resolutions."""
        image = self._upload(grey)
        height, width = image.shape[-2:]
        pyramid = grey_pyramid(image, self.working_size(height, width), self.motion_size(height, width))
        return Grey(*(level.to(self.dtype) for level in pyramid))

    @_on_team
    @torch.inference_mode()
    def prepare_key(self, grey: torch.Tensor, chroma: torch.Tensor) -> KeyState:
        """Keyframe state from its full-resolution grey and chroma; computed once per keyframe."""
        self._count("key_features")
        return self.global_.prepare_key(self.to_grey(grey), self.to_working(chroma))

    @_on_team
    def key_output(self, chroma: torch.Tensor) -> StepOutput:
        """The estimates at a keyframe: every one is the keyframe's own chroma, confidence 1."""
        work = self.to_working(chroma)
        ones = torch.ones_like(work[:, :1])
        return StepOutput(local=work, global_=work, confidence=ones, final=work, reliability=ones)

    @_on_team
    @torch.inference_mode()
    def prepare(self, key: KeyState, prev: Grey, cur: Grey) -> StepInputs:
        """The non-recursive part of frame ``cur``'s step (motion, kernels, global estimate)."""
        self._count("prepared")
        return prepare_step(self.local, self.global_, key, prev, cur)

    @_on_team
    @torch.inference_mode()
    def chain(self, inputs: StepInputs, cur: Grey, chroma_prev: torch.Tensor) -> StepOutput:
        """The recursive part of a step: local from the previous final chroma, then refine."""
        self._count("steps")
        return chain_step(self.local, self.refine, inputs, cur, chroma_prev)

    @_on_team
    def step(self, key: KeyState, prev: Grey, cur: Grey, chroma_prev: torch.Tensor) -> StepOutput:
        """One whole frame: :meth:`prepare` then :meth:`chain`."""
        return self.chain(self.prepare(key, prev, cur), cur, chroma_prev)

    @_on_team
    @torch.inference_mode()
    def refine_full(
        self, grey: torch.Tensor, local: torch.Tensor, global_: torch.Tensor, confidence: torch.Tensor
    ) -> torch.Tensor:
        """The refine stage alone on full-resolution estimates -> full-resolution chroma (2,H,W).

        The local estimate's reliability is unknown here and taken as 1.
        """
        work = self.to_working
        confidence = work(confidence)
        final = refine_step(
            self.refine, work(grey), work(local), torch.ones_like(confidence), work(global_), confidence
        )
        return self.to_full(final, (grey.shape[-2], grey.shape[-1]))

    @staticmethod
    def to_full(chroma: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Working-resolution (1,C,h,w) -> float32 (C,H,W) on the CPU at the output ``size``.

        From a GPU the result is copied into pinned memory (the fast path back), then waited for.
        """
        chroma = chroma.float()
        if tuple(chroma.shape[-2:]) != tuple(size):
            chroma = F.interpolate(chroma, size=size, mode="bilinear", align_corners=False)
        if chroma.is_cuda:
            host = chroma[0].to("cpu", non_blocking=True)
            torch.cuda.current_stream(chroma.device).synchronize()
            return host
        return chroma[0]
