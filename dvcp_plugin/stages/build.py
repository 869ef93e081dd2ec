"""Building stage modules by kind and name, and packing them into a weights dict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..errors import DvcpError, StageError, WeightsError
from ..hookspecs import STAGE_KINDS
from .registry import StageRegistry, default_registry
from .weights import WEIGHTS_VERSION
from .weights_check import state_mismatch

DEFAULT_STAGES: dict[str, str] = {"local": "mcsepconv", "global": "anchor", "refine": "fusion"}
DEFAULT_CHROMA_SCALE = 0.5


def check_stage_options(
    kind: str, name: str, given: Mapping[str, Mapping[str, Any]], registry: StageRegistry | None = None
) -> None:
    """Refuse options the ``kind`` stage ``name`` does not take, naming them, where they came from
    (the keys of ``given``: "stage_options", "weights file …", …) and the options it takes.
    Stages that do not declare their options are left to their factory."""
    declared = (registry or default_registry()).resolve(kind, name).spec.options
    if declared is None:
        return
    takes = set(declared())
    for source, options in given.items():
        unknown = sorted(set(options) - takes)
        if unknown:
            raise StageError(
                f"the {kind} stage {name!r} does not take the option{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(map(repr, unknown))} ({source}); it takes {', '.join(sorted(takes))}"
            )


def build_stage(
    kind: str,
    name: str,
    options: Mapping[str, Any] | None = None,
    state: Mapping[str, torch.Tensor] | None = None,
    registry: StageRegistry | None = None,
    source: str = "stage_options",
) -> torch.nn.Module:
    """Build the ``kind`` stage called ``name`` and load ``state`` into it (strictly).

    ``source`` says where ``options`` and ``state`` come from, for errors. Options the stage does
    not take or values it refuses (a ``TypeError`` or ``ValueError`` of its factory, perhaps a
    plugin's) and files it cannot find (a :class:`DvcpError` or ``OSError``) are a
    :class:`StageError`, its cause kept; anything else the factory raises is a bug and goes up as
    it is.
    """
    registry = registry or default_registry()
    options = dict(options or {})
    check_stage_options(kind, name, {source: options}, registry)
    try:
        module = registry.component(kind, name, **options)
    except TypeError as exc:  # an option the factory does not take, or a value of the wrong type
        raise StageError(f"the {kind} stage {name!r} does not take the options {options} ({source}): {exc}") from exc
    except (DvcpError, ValueError, OSError) as exc:  # e.g. pretrained weights that are not on this machine
        raise StageError(f"cannot build the {kind} stage {name!r}: {exc}") from exc
    if state is not None:
        problem = state_mismatch(module.state_dict(), state)
        if problem is None:
            try:
                module.load_state_dict(state, strict=True)
            except (RuntimeError, KeyError, TypeError) as exc:
                problem = " ".join(str(exc).split())
        if problem is not None:
            raise WeightsError(
                f"{source}: the {kind} stage {name!r} weights do not fit the network: {problem} "
                "(weights trained with other options or for another architecture)"
            ) from None
    return module


def pack_weights(
    modules: Mapping[str, torch.nn.Module],
    names: Mapping[str, str],
    options: Mapping[str, Mapping[str, Any]],
    chroma_scale: float = DEFAULT_CHROMA_SCALE,
    meta: Mapping[str, Any] | None = None,
    fmt: str = "dvcp-weights",
) -> dict[str, Any]:
    """A weights dict (see :mod:`dvcp_plugin.stages.weights`) holding the given stage modules."""
    stages = {}
    for kind, module in modules.items():
        state = {key: value.detach().cpu().float() if value.is_floating_point() else value.cpu()
                 for key, value in module.state_dict().items()}
        stages[kind] = {"name": names[kind], "options": dict(options.get(kind, {})), "state": state}
    return {
        "format": fmt,
        "version": WEIGHTS_VERSION,
        "stages": stages,
        "chroma_scale": float(chroma_scale),
        "meta": dict(meta or {}),
    }


def untrained_weights(
    seed: int = 0,
    names: Mapping[str, str] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    chroma_scale: float = DEFAULT_CHROMA_SCALE,
) -> dict[str, Any]:
    """Freshly initialised weights for every trained stage (tests, and the start of training)."""
    names = {**DEFAULT_STAGES, **(names or {})}
    options = options or {}
    torch.manual_seed(seed)
    registry = default_registry()
    modules = {}
    for kind in STAGE_KINDS:
        if registry.resolve(kind, names[kind]).spec.trained:
            modules[kind] = build_stage(kind, names[kind], options.get(kind), registry=registry)
    return pack_weights(modules, names, options, chroma_scale, meta={"trained": False, "seed": seed})
