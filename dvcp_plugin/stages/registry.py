"""The stage registry: a pluggy plugin manager for local, global and refine stages and motion estimators.

Built-in stages are registered through the same hooks as third-party ones. Third-party plugins
are loaded from the entry-point group ``dvcp.stages``; the environment variable ``DVCP_PLUGINS``
limits that: unset loads every plugin, ``none`` (or ``0``, or empty) loads none, and a comma
list of entry-point names loads only those.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy

from .. import hookspecs
from ..errors import DuplicateStageError, PluginLoadError, UnknownStageError
from ..hookspecs import COMPONENT_KINDS, ENTRY_POINT_GROUP, PROJECT_NAME, StageSpec

log = logging.getLogger(__name__)

PLUGINS_ENV = "DVCP_PLUGINS"
BUILTIN_PLUGIN_NAME = "dvcp-builtin"


@dataclass(frozen=True)
class RegisteredStage:
    """A stage implementation together with the plugin that registered it."""

    kind: str
    spec: StageSpec
    plugin: str


def allowed_plugins(value: str | None) -> set[str] | None:
    """Parse ``DVCP_PLUGINS``: None means all, an empty set means none."""
    if value is None:
        return None
    names = {part.strip() for part in value.split(",") if part.strip()}
    if not names or names & {"none", "0"}:
        return set()
    return names


class StageRegistry:
    """Collects stage implementations from plugins and resolves them by kind and name."""

    def __init__(self, load_entry_points: bool = True, builtins: bool = True) -> None:
        self._pm = pluggy.PluginManager(PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        if builtins:
            from . import builtin

            self._pm.register(builtin, name=BUILTIN_PLUGIN_NAME)
        if load_entry_points:
            self._load_entry_points(allowed_plugins(os.environ.get(PLUGINS_ENV)))

    def _load_entry_points(self, allowed: set[str] | None) -> None:
        for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if allowed is not None and entry.name not in allowed:
                continue
            try:
                plugin = entry.load()
            except Exception as exc:  # any import-time failure of foreign code
                raise PluginLoadError(
                    f"dvcp plugin {entry.name!r} ({entry.value}) failed to load: "
                    f"{type(exc).__name__}: {exc}. Set {PLUGINS_ENV}=none to start without "
                    "third-party plugins."
                ) from exc
            self.register(plugin, entry.name)
            log.debug("plugin %r loaded from %s", entry.name, entry.value)

    def register(self, plugin: Any, name: str) -> None:
        """Register a plugin object or module under ``name`` and check its stage names."""
        self._pm.register(plugin, name=name)
        try:
            for kind in COMPONENT_KINDS:
                self.stages(kind)
        except DuplicateStageError:
            self._pm.unregister(name=name)
            raise

    def plugin_names(self) -> list[str]:
        """Names of the registered plugins, built-in first."""
        return [name for name, _ in self._pm.list_name_plugin()]

    def stages(self, kind: str) -> dict[str, RegisteredStage]:
        """Every implementation of ``kind``, by name."""
        if kind not in COMPONENT_KINDS:
            raise UnknownStageError(f"unknown stage kind {kind!r}; kinds: {', '.join(COMPONENT_KINDS)}")
        caller = getattr(self._pm.hook, COMPONENT_KINDS[kind])
        found: dict[str, RegisteredStage] = {}
        for impl in caller.get_hookimpls():
            for spec in impl.function() or []:
                if spec.name in found:
                    raise DuplicateStageError(
                        f"{kind} stage {spec.name!r} is registered twice: by plugin "
                        f"{found[spec.name].plugin!r} and by plugin {impl.plugin_name!r}"
                    )
                found[spec.name] = RegisteredStage(kind, spec, impl.plugin_name)
        return found

    def component(self, kind: str, name: str, **options: Any) -> Any:
        """Build the ``kind`` called ``name`` with ``options`` (its factory is given this registry when it asks)."""
        spec = self.resolve(kind, name).spec
        return spec.factory(**options, registry=self) if spec.uses_registry else spec.factory(**options)

    def resolve(self, kind: str, name: str) -> RegisteredStage:
        """The implementation of ``kind`` called ``name``; a clear error lists the choices."""
        available = self.stages(kind)
        if name not in available:
            choices = ", ".join(sorted(available)) or "none registered"
            raise UnknownStageError(f"unknown {kind} stage {name!r}; available: {choices}")
        return available[name]


_default: StageRegistry | None = None


def default_registry() -> StageRegistry:
    """The process-wide registry with built-in stages and entry-point plugins loaded."""
    global _default
    if _default is None:
        _default = StageRegistry()
    return _default
