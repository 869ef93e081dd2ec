"""Finding, reading and writing dvcp weights files.

A weights file is a ``torch.save`` of a plain dict (loaded with ``weights_only=True``)::

    {"format": "dvcp-weights", "version": 1,
     "stages": {kind: {"name": str, "options": dict, "state": state_dict}, ...},
     "chroma_scale": float, "meta": dict}

Training checkpoints have the same ``stages`` plus ``step``, ``optimizer`` and ``train_config``,
so any checkpoint can be used as weights.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch

from ..errors import WeightsError
from .weights_check import load_problem, non_finite_problem

WEIGHTS_FORMATS = ("dvcp-weights", "dvcp-checkpoint")
WEIGHTS_VERSION = 1
WEIGHTS_ENV = "DVCP_WEIGHTS"
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "dvcp-default.pt"

HOW_TO_GET_WEIGHTS = (
    "The package ships its default weights in dvcp_plugin/weights/dvcp-default.pt; reinstall "
    "from a complete clone, train your own with `dvcp train DATA_DIR... --out DIR` and pass "
    f"weights=PATH, or set {WEIGHTS_ENV}=PATH."
)


def find_weights(path: str | os.PathLike[str] | None = None) -> Path:
    """The weights file to use: ``path``, else ``$DVCP_WEIGHTS``, else the shipped default."""
    if path is None:
        path = os.environ.get(WEIGHTS_ENV) or DEFAULT_WEIGHTS
        if not Path(path).is_file():
            raise WeightsError(f"no dvcp weights found at {path}. {HOW_TO_GET_WEIGHTS}")
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist. {HOW_TO_GET_WEIGHTS}")
    return path


def load_weights(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a weights file or training checkpoint; errors name the file.

    Every problem is one line (:mod:`.weights_check`): a file torch cannot read, a stage section
    that is not whole, a tensor holding NaN or infinite values.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():  # torch warns about what it finds in a file it then refuses
            warnings.simplefilter("ignore", UserWarning)
            data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"weights file {path} does not exist. {HOW_TO_GET_WEIGHTS}") from None
    except Exception as exc:  # torch raises many types for corrupt archives
        raise WeightsError(load_problem(path, exc)) from None
    if not isinstance(data, dict) or data.get("format") not in WEIGHTS_FORMATS:
        raise WeightsError(f"{path} is not a dvcp weights file (no dvcp format marker)")
    if data.get("version") != WEIGHTS_VERSION:
        raise WeightsError(
            f"{path} has weights format version {data.get('version')!r}; this dvcp reads "
            f"version {WEIGHTS_VERSION}"
        )
    stages = data.get("stages")
    if not isinstance(stages, dict):
        raise WeightsError(f"{path} holds no stages")
    for kind, section in stages.items():
        if not isinstance(section, dict) or not {"name", "options", "state"} <= section.keys():
            raise WeightsError(f"{path}: stage section {kind!r} lacks name, options or state")
        if not isinstance(section["state"], dict):
            raise WeightsError(f"{path}: the state of stage section {kind!r} is not a table of tensors")
    problem = non_finite_problem(path, stages)
    if problem is not None:
        raise WeightsError(problem)
    return data


def save_weights(path: str | os.PathLike[str], data: dict[str, Any]) -> Path:
    """Write ``data`` atomically (temporary name, then rename) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(data, tmp)
    os.replace(tmp, path)
    return path
