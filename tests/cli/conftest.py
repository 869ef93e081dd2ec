"""Fixtures of the command-line tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from dvcp_plugin.stages.build import untrained_weights
from dvcp_plugin.stages.weights import save_weights


@pytest.fixture(scope="session")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights file of untrained stages, so the tests do not depend on the shipped weights."""
    return save_weights(tmp_path_factory.mktemp("weights") / "w.pt", untrained_weights(0))
