"""``dvcp plugins``: what stage implementations are registered, and by which plugin."""

from __future__ import annotations

import argparse

from ..hookspecs import COMPONENT_KINDS
from ..stages.registry import default_registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace) -> int:
    """Print one line per registered stage: kind, name, plugin, description."""
    registry = default_registry()
    print(f"plugins: {', '.join(registry.plugin_names())}")
    for kind in COMPONENT_KINDS:
        stages = registry.stages(kind)
        if not stages:
            print(f"{kind:7s} (none)")
        for name, stage in sorted(stages.items()):
            print(f"{kind:7s} {name:10s} from {stage.plugin:14s} {stage.spec.description}")
    return 0
