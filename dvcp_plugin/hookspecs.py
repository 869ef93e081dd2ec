"""pluggy hook specifications through which plugins register stage implementations.

A plugin is any object or module with functions marked ``@hookimpl`` whose names match the
specifications below. Each returns a list of :class:`StageSpec`; the plugin manager collects
them per kind ("local", "global", "refine"). The built-in stages are registered through these
same hooks (see :mod:`dvcp_plugin.stages.builtin`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
    (an ImageNet ResNet, say) load them in the factory and set it to False.
    """

    name: str
    factory: Callable[..., Any]
    description: str = ""
    trained: bool = True


@hookspec
def dvcp_local_stages() -> list[StageSpec]:
    """Return local-propagation stages: ``module(grey_prev, grey_cur, chroma_prev) -> chroma``."""


@hookspec
def dvcp_global_stages() -> list[StageSpec]:
    """Return global-matching stages: ``prepare_key(grey, chroma)`` and ``module(grey, key)``."""


@hookspec
def dvcp_refine_stages() -> list[StageSpec]:
    """Return refinement stages: ``module(grey, local, global_, confidence) -> chroma``."""


STAGE_KINDS: dict[str, str] = {
    "local": "dvcp_local_stages",
    "global": "dvcp_global_stages",
    "refine": "dvcp_refine_stages",
}
