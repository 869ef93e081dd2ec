"""pluggy hook specifications through which plugins register stage implementations.

A plugin is any object or module with functions marked ``@hookimpl`` whose names match the
specifications below. Each returns a list of :class:`StageSpec`; the plugin manager collects
them per kind: the three stages ("local", "global", "refine") and the motion estimators
("motion") that motion-compensated stages use. The built-in ones are registered through these same
hooks (see :mod:`dvcp_plugin.stages.builtin`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pluggy

PROJECT_NAME = "dvcp"
ENTRY_POINT_GROUP = "dvcp.stages"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@dataclass(frozen=True)
class StageSpec:
    """A named implementation of one stage kind.

    ``factory(**options)`` builds the ``torch.nn.Module``. ``trained`` says whether its weights
    come from a dvcp weights file (section named after the kind); stages with their own weights
    (an ImageNet ResNet, say) load them in the factory and set it to False. A factory that builds
    other registered components by name (a motion estimator) sets ``uses_registry``: it is then
    also given ``registry=``, the :class:`Components` of the registry that builds it, so a
    private registry's own components are found there.
    """

    name: str
    factory: Callable[..., Any]
    description: str = ""
    trained: bool = True
    uses_registry: bool = False


class Components(Protocol):
    """The registry building a stage, as a factory with ``uses_registry`` is given it."""

    def component(self, kind: str, name: str, **options: Any) -> Any:
        """Build the registered ``kind`` (e.g. "motion") called ``name`` with ``options``."""


@hookspec
def dvcp_local_stages() -> list[StageSpec]:
    """Return local-propagation stages: ``plan(prev, cur) -> LocalPlan`` and ``apply(plan, chroma_prev)``.

    See :mod:`dvcp_plugin.models.local` and :mod:`dvcp_plugin.models.propagation`.
    """


@hookspec
def dvcp_global_stages() -> list[StageSpec]:
    """Return global stages: ``prepare_key(grey, chroma) -> KeyState``,
    ``module(grey, key) -> (chroma, confidence)``."""


@hookspec
def dvcp_refine_stages() -> list[StageSpec]:
    """Return refinement stages: ``module(grey, local, reliability, global_, confidence) -> chroma``."""


@hookspec
def dvcp_motion_estimators() -> list[StageSpec]:
    """Return motion estimators (``trained=False``): ``factory(**options)`` gives a
    :class:`dvcp_plugin.models.motion.MotionEstimator`, named by a stage's ``motion`` option."""


STAGE_KINDS: dict[str, str] = {
    "local": "dvcp_local_stages",
    "global": "dvcp_global_stages",
    "refine": "dvcp_refine_stages",
}
# everything the registry resolves by kind and name: the stages and the motion estimators
COMPONENT_KINDS: dict[str, str] = {**STAGE_KINDS, "motion": "dvcp_motion_estimators"}
