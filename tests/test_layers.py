"""The layers of docs/ARCHITECTURE.md import one way only: no module imports a layer above its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import dvcp_plugin
import dvcp_plugin.filters
import dvcp_plugin.models

# lowest first: a module may import from its own layer and the layers below ("" is dvcp_plugin/__init__.py)
LAYERS: tuple[tuple[str, ...], ...] = (
    ("models", "errors"),
    ("filters",),
    ("hookspecs", "stages", "options"),
    ("runtime", "media"),
    ("vsapi", "service", "training", "evaluation", "bench"),
    ("commands", "batch", "cli", ""),
)
ROOTS = {
    "dvcp_plugin": Path(dvcp_plugin.__path__[0]),
    "dvcp_plugin.filters": Path(dvcp_plugin.filters.__path__[0]),
    "dvcp_plugin.models": Path(dvcp_plugin.models.__path__[0]),
}


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (packages by their own name)."""
    found = {}
    for package, root in ROOTS.items():
        for path in root.rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found.setdefault(".".join((package, *parts)), path)
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of every import in the file, relative ones resolved, functions' included."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.append((node.lineno, child if child in MODULES else base))
    return found


def _layer(module: str) -> int | None:
    """The layer of a dvcp_plugin module (None for anything else)."""
    if module != "dvcp_plugin" and not module.startswith("dvcp_plugin."):
        return None
    top = module.split(".")[1] if "." in module else ""
    return next((i for i, names in enumerate(LAYERS) if top in names), -1)


def test_every_module_belongs_to_a_layer():
    assert "dvcp_plugin.runtime.engine" in MODULES and "dvcp_plugin.filters.convert" in MODULES
    unplaced = sorted(name for name in MODULES if _layer(name) == -1)
    assert not unplaced, f"modules in no layer of LAYERS (and docs/ARCHITECTURE.md): {unplaced}"


def test_no_module_imports_a_higher_layer():
    upward = []
    for name, path in sorted(MODULES.items()):
        own = _layer(name)
        for line, target in _imports(name, path):
            layer = _layer(target)
            if layer is not None and layer > own:
                upward.append(f"{path}:{line}: {name} imports {target}")
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("dvcp_plugin.models")))
def test_models_never_import_vapoursynth(name):
    imported = [target for _, target in _imports(name, MODULES[name])]
    assert not [t for t in imported if t.split(".")[0] == "vapoursynth"], f"{name} imports vapoursynth"
