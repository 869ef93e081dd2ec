"""The package as an editor and ``help()`` see it: its public functions listed, documented and typed."""

from __future__ import annotations

import importlib.resources
import pydoc
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import dvcp_plugin

ROOT = Path(__file__).resolve().parents[1]


def test_dir_and_help_show_the_vapoursynth_functions():
    assert set(dvcp_plugin.__all__) == {"colorize", "global_match", "local_propagate", "refine", "shots"}
    assert set(dvcp_plugin.__all__) <= set(dir(dvcp_plugin))
    text = pydoc.render_doc(dvcp_plugin, renderer=pydoc.plaintext)
    for name in dvcp_plugin.__all__:
        assert re.search(rf"\b{name}\(\s*clip", text), name  # each with its signature, generated keywords included
    assert "chroma_scale" in text and "unkeyed_cuts" in text


def test_dir_does_not_load_vapoursynth():
    listing = subprocess.run(
        [sys.executable, "-c", "import sys, dvcp_plugin; print(sorted(dir(dvcp_plugin))); "
         "print('vapoursynth' in sys.modules)"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    assert "'colorize'" in listing[0] and listing[1] == "False"


def test_the_package_ships_py_typed():
    assert importlib.resources.files("dvcp_plugin").joinpath("py.typed").is_file()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in config["tool"]["setuptools"]["package-data"]["dvcp_plugin"]
