"""The built-in stages, registered through the same pluggy hooks as any third-party plugin.

Factories import the networks lazily so that listing stages does not build anything.
"""

from __future__ import annotations

import os
from typing import Any

from ..hookspecs import StageSpec, hookimpl


def _sepconv(**options: Any) -> Any:
    from ..models.local import LocalPropagation

    return LocalPropagation(**options)


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


@hookimpl
def dvcp_local_stages() -> list[StageSpec]:
    """The SepConv-style kernel-prediction local stage."""
    return [
        StageSpec(
            "sepconv",
            _sepconv,
            "per-pixel separable kernels predicted from two grey frames (paper's local strategy)",
        )
    ]


@hookimpl
def dvcp_global_stages() -> list[StageSpec]:
    """Two-stage feature matching with the project's encoder or an ImageNet ResNet."""
    return [
        StageSpec("compact", _compact, "two-stage matching on the project's trained encoder"),
        StageSpec(
            "resnet18",
            _resnet(18),
            "two-stage matching on ImageNet ResNet-18 features (weights from torch cache)",
            trained=False,
        ),
        StageSpec(
            "resnet34",
            _resnet(34),
            "two-stage matching on ImageNet ResNet-34 features (weights from torch cache)",
            trained=False,
        ),
    ]


@hookimpl
def dvcp_refine_stages() -> list[StageSpec]:
    """The fully convolutional fusion and refinement network."""
    return [StageSpec("fcn", _fcn, "fully convolutional fusion of local and global estimates")]
