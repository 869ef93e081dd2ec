"""The built-in stages, registered through the same pluggy hooks as any third-party plugin.

Factories import the networks lazily so that listing stages does not build anything. Those that
use a motion estimator build it, by name, from the registry that builds them.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable
from typing import Any

from ..hookspecs import Components, StageSpec, hookimpl

# parameters of the networks that their factories fill in themselves (not options)
_SUPPLIED = frozenset({"motion", "check_motion", "extractor"})


def _takes(factory: Callable[..., Any], network: str | None = None) -> Callable[[], frozenset[str]]:
    """The option names of ``factory``, and of the network class ``network`` ("module:Class" under
    ``dvcp_plugin.models``) that it passes the rest to."""

    def names() -> frozenset[str]:
        found = {p.name for p in inspect.signature(factory).parameters.values() if p.kind is not p.VAR_KEYWORD}
        found.discard("registry")
        if network is not None:
            module, _, name = network.partition(":")
            cls = getattr(importlib.import_module(f"dvcp_plugin.models.{module}"), name)
            params = inspect.signature(cls).parameters.values()
            found |= {p.name for p in params if p.kind is not p.VAR_KEYWORD and p.name not in _SUPPLIED}
        return frozenset(found)

    return names


def _sepconv(**options: Any) -> Any:
    from ..models.local import LocalPropagation

    return LocalPropagation(**options)


def _motions(
    registry: Components, motion: str, motion_options: dict[str, Any] | None, check_options: dict[str, Any] | None
) -> tuple[Any, Any]:
    """The stage's motion estimator and the one that checks it (the same unless ``check_options`` are given)."""
    estimator = registry.component("motion", motion, **(motion_options or {}))
    return estimator, estimator if check_options is None else registry.component("motion", motion, **check_options)


def _mcsepconv(
    registry: Components,
    motion: str = "dis",
    motion_options: dict[str, Any] | None = None,
    check_options: dict[str, Any] | None = None,
    **options: Any,
) -> Any:
    from ..models.motion_local import MotionCompensatedPropagation

    return MotionCompensatedPropagation(*_motions(registry, motion, motion_options, check_options), **options)


def _anchor(
    registry: Components,
    motion: str = "dis",
    motion_options: dict[str, Any] | None = None,
    check_options: dict[str, Any] | None = None,
    fine_channels: int = 32,
    coarse_channels: int = 64,
    **options: Any,
) -> Any:
    from ..models.anchor import KeyAnchoring
    from ..models.features import CompactEncoder

    encoder = CompactEncoder(fine_channels=fine_channels, coarse_channels=coarse_channels)
    estimator, checker = _motions(registry, motion, motion_options, check_options)
    return KeyAnchoring(estimator, encoder, check_motion=checker, **options)


def _dis(preset: str = "medium", finest_pixels: int | None = None) -> Any:
    from ..models.motion import DISMotion

    return DISMotion(preset, finest_pixels)


def _compact(roi_size: int | None = None, chunk_size: int = 4096, **options: Any) -> Any:
    from ..models.features import CompactEncoder
    from ..models.global_stage import GlobalMatching

    return GlobalMatching(CompactEncoder(**options), roi_size=roi_size, chunk_size=chunk_size)


def _resnet(depth: int):
    def factory(
        imagenet_weights: str | os.PathLike[str] | None = None,
        roi_size: int | None = None,
        chunk_size: int = 4096,
    ) -> Any:
        from ..models.features import ResNetFeatures
        from ..models.global_stage import GlobalMatching

        extractor = ResNetFeatures(depth=depth, weights=imagenet_weights)
        return GlobalMatching(extractor, roi_size=roi_size, chunk_size=chunk_size)

    return factory


def _fcn(**options: Any) -> Any:
    from ..models.refine import RefinementNet

    return RefinementNet(**options)


def _fusion(**options: Any) -> Any:
    from ..models.refine import ReliabilityFusion

    return ReliabilityFusion(**options)


@hookimpl
def dvcp_local_stages() -> list[StageSpec]:
    """The motion-compensated local stage and the paper's kernel-prediction one."""
    return [
        StageSpec(
            "mcsepconv",
            _mcsepconv,
            "previous colours warped by dense motion, then corrected by per-pixel separable kernels",
            uses_registry=True,
            options=_takes(_mcsepconv, "motion_local:MotionCompensatedPropagation"),
        ),
        StageSpec(
            "sepconv",
            _sepconv,
            "per-pixel separable kernels predicted from two grey frames (paper's local strategy)",
            options=_takes(_sepconv, "local:LocalPropagation"),
        ),
    ]


@hookimpl
def dvcp_global_stages() -> list[StageSpec]:
    """Re-anchoring by long-range motion, and two-stage feature matching (project encoder or ImageNet ResNet)."""
    return [
        StageSpec(
            "anchor",
            _anchor,
            "keyframe colours by long-range motion checked both ways, by feature matching where it fails",
            uses_registry=True,
            options=_takes(_anchor, "anchor:KeyAnchoring"),
        ),
        StageSpec(
            "compact", _compact, "two-stage matching on the project's trained encoder",
            options=_takes(_compact, "features:CompactEncoder"),
        ),
        StageSpec(
            "resnet18",
            _resnet(18),
            "two-stage matching on ImageNet ResNet-18 features (weights from torch cache)",
            trained=False,
            options=_takes(_resnet(18)),
        ),
        StageSpec(
            "resnet34",
            _resnet(34),
            "two-stage matching on ImageNet ResNet-34 features (weights from torch cache)",
            trained=False,
            options=_takes(_resnet(34)),
        ),
    ]


@hookimpl
def dvcp_refine_stages() -> list[StageSpec]:
    """The reliability-weighted fusion and the paper's fully convolutional refinement."""
    return [
        StageSpec(
            "fusion", _fusion, "per-pixel blend of local and global estimates by their reliability, plus a correction",
            options=_takes(_fusion, "refine:ReliabilityFusion"),
        ),
        StageSpec(
            "fcn", _fcn, "fully convolutional fusion of local and global estimates",
            options=_takes(_fcn, "refine:RefinementNet"),
        ),
    ]


@hookimpl
def dvcp_motion_estimators() -> list[StageSpec]:
    """OpenCV's DIS optical flow."""
    return [
        StageSpec(
            "dis", _dis, "OpenCV DIS optical flow (presets ultrafast, fast, medium)", trained=False,
            options=_takes(_dis),
        )
    ]
