"""The pluggy stage registry: hooks, built-ins, third-party entry points and errors."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from dvcp_plugin.errors import DuplicateStageError, PluginLoadError, UnknownStageError
from dvcp_plugin.hookspecs import STAGE_KINDS, StageSpec, hookimpl
from dvcp_plugin.stages.registry import BUILTIN_PLUGIN_NAME, StageRegistry, allowed_plugins


def _factory(**options):
    return ("built", options)


def _plugin_for(kind: str, name: str, description: str = "test stage"):
    hook_name = STAGE_KINDS[kind]

    class Plugin:
        pass

    @hookimpl
    def impl():
        return [StageSpec(name, _factory, description)]

    impl.__name__ = hook_name
    setattr(Plugin, hook_name, staticmethod(impl))
    return Plugin()


@pytest.mark.parametrize("kind", list(STAGE_KINDS))
def test_each_hookspec_registers_its_kind_only(kind):
    registry = StageRegistry(load_entry_points=False, builtins=False)
    registry.register(_plugin_for(kind, "mine"), "test-plugin")
    stage = registry.resolve(kind, "mine")
    assert stage.plugin == "test-plugin"
    assert stage.kind == kind
    assert stage.spec.factory(width=3) == ("built", {"width": 3})
    for other in STAGE_KINDS:
        if other != kind:
            assert "mine" not in registry.stages(other)


def test_builtin_stages_are_registered_through_the_hooks():
    registry = StageRegistry(load_entry_points=False)
    assert registry.plugin_names() == [BUILTIN_PLUGIN_NAME]
    assert registry.resolve("local", "sepconv").plugin == BUILTIN_PLUGIN_NAME
    assert registry.resolve("global", "compact").plugin == BUILTIN_PLUGIN_NAME
    assert registry.resolve("refine", "fcn").plugin == BUILTIN_PLUGIN_NAME
    assert registry.resolve("global", "resnet18").spec.trained is False


def test_unknown_name_lists_the_choices():
    registry = StageRegistry(load_entry_points=False)
    registry.register(_plugin_for("refine", "extra"), "test-plugin")
    with pytest.raises(UnknownStageError) as info:
        registry.resolve("refine", "nosuch")
    message = str(info.value)
    assert "'nosuch'" in message and "refine" in message
    assert "extra" in message and "fcn" in message


def test_unknown_kind_is_an_error():
    with pytest.raises(UnknownStageError, match="kinds: local, global, refine"):
        StageRegistry(load_entry_points=False).stages("colour")


def test_duplicate_name_names_both_plugins_and_is_rolled_back():
    registry = StageRegistry(load_entry_points=False)
    with pytest.raises(DuplicateStageError) as info:
        registry.register(_plugin_for("local", "sepconv"), "copycat")
    assert "'sepconv'" in str(info.value)
    assert BUILTIN_PLUGIN_NAME in str(info.value) and "copycat" in str(info.value)
    # the offending plugin is gone, the registry still works
    assert registry.plugin_names() == [BUILTIN_PLUGIN_NAME]
    assert registry.resolve("local", "sepconv").plugin == BUILTIN_PLUGIN_NAME


@pytest.fixture
def entry_point_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two installed third-party plugins (a good and a broken one) found via entry points."""
    (tmp_path / "good_dvcp_plugin.py").write_text(
        textwrap.dedent(
            """
            from dvcp_plugin.hookspecs import StageSpec, hookimpl

            @hookimpl
            def dvcp_local_stages():
                return [StageSpec("thirdparty", lambda **o: o, "from an entry point")]
            """
        )
    )
    (tmp_path / "broken_dvcp_plugin.py").write_text("raise RuntimeError('boom')\n")
    dist = tmp_path / "dvcp_test_plugins-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: dvcp-test-plugins\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[dvcp.stages]\ngood = good_dvcp_plugin\nbroken = broken_dvcp_plugin\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for module in ("good_dvcp_plugin", "broken_dvcp_plugin"):
        sys.modules.pop(module, None)


def test_entry_point_plugin_is_loaded_and_listed(entry_point_plugins, monkeypatch):
    monkeypatch.setenv("DVCP_PLUGINS", "good")
    registry = StageRegistry()
    assert registry.plugin_names() == [BUILTIN_PLUGIN_NAME, "good"]
    assert registry.resolve("local", "thirdparty").plugin == "good"


def test_failing_plugin_is_named(entry_point_plugins, monkeypatch):
    monkeypatch.delenv("DVCP_PLUGINS", raising=False)
    with pytest.raises(PluginLoadError) as info:
        StageRegistry()
    assert "'broken'" in str(info.value) and "boom" in str(info.value)
    assert "DVCP_PLUGINS=none" in str(info.value)


@pytest.mark.parametrize("value", ["none", "0", ""])
def test_environment_variable_disables_third_party_plugins(entry_point_plugins, monkeypatch, value):
    monkeypatch.setenv("DVCP_PLUGINS", value)
    registry = StageRegistry()
    assert registry.plugin_names() == [BUILTIN_PLUGIN_NAME]
    with pytest.raises(UnknownStageError):
        registry.resolve("local", "thirdparty")


def test_allowed_plugins_parsing():
    assert allowed_plugins(None) is None
    assert allowed_plugins("a, b") == {"a", "b"}
    assert allowed_plugins("none") == set()


class _StillMotion:
    """A motion estimator of a private registry: no motion at all."""


def _motion_plugin(name: str):
    class Plugin:
        @staticmethod
        @hookimpl
        def dvcp_motion_estimators():
            return [StageSpec(name, lambda **options: _StillMotion(), "still", trained=False)]

    return Plugin()


def test_a_stage_finds_its_motion_estimator_in_the_registry_that_builds_it(entry_point_plugins, monkeypatch):
    from dvcp_plugin.stages import registry as registry_module
    from dvcp_plugin.stages.build import build_stage

    # the process-wide registry would load the broken entry-point plugin: building here must not touch it
    monkeypatch.delenv("DVCP_PLUGINS", raising=False)
    monkeypatch.setattr(registry_module, "_default", None)
    private = StageRegistry(load_entry_points=False)
    private.register(_motion_plugin("still"), "test-motion")
    local = build_stage("local", "mcsepconv", {"motion": "still"}, registry=private)
    anchor = build_stage("global", "anchor", {"motion": "still"}, registry=private)
    assert isinstance(local.motion, _StillMotion) and isinstance(anchor.motion, _StillMotion)
    assert registry_module._default is None
    with pytest.raises(PluginLoadError):
        registry_module.default_registry()  # as it would have, had the build used it
