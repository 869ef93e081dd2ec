"""What is wrong with a weights file, in dvcp's words: unreadable, non-finite values, tensors that do not fit.

Each function returns one line that names the file, the stage or the tensor, and says what to do,
for a :class:`~dvcp_plugin.errors.WeightsError`; torch's own messages (several lines, and advice
that does not apply to dvcp) are not passed on.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

WHAT_TO_DO = (
    "give another weights file (--weights PATH, weights=PATH or $DVCP_WEIGHTS; without one the shipped "
    "weights are used), or export one from a training checkpoint with `dvcp train --export`"
)


def load_problem(path: Path, exc: BaseException) -> str:
    """The line that says why ``torch.load`` could not read the weights file ``path``."""
    if isinstance(exc, EOFError):
        what = "it is corrupt: empty or cut short"
    elif isinstance(exc, OSError):
        what = f"it cannot be read: {exc.strerror or exc}"
    elif isinstance(exc, RuntimeError) and "zip archive" in str(exc):
        what = "it is corrupt: cut short or damaged (its archive is not whole)"
    elif isinstance(exc, pickle.UnpicklingError):
        what = "it is corrupt or not a dvcp weights file (it holds data other than tensors and plain values)"
    else:
        what = "it is corrupt or not a dvcp weights file"
    return f"cannot read weights file {path}: {what}; {WHAT_TO_DO}"


def non_finite_problem(path: Path, stages: Mapping[str, Any]) -> str | None:
    """The first stage tensor of a weights file that holds NaN or infinite values, in words; None if none."""
    for kind, section in stages.items():
        for key, value in section["state"].items():
            if isinstance(value, torch.Tensor) and value.is_floating_point():
                bad = int((~torch.isfinite(value)).sum())
                if bad:
                    return (
                        f"weights file {path}: the {kind} stage {section['name']!r} holds {bad} non-finite "
                        f"value(s) (NaN or infinity) in its tensor {key!r}, so its output would be meaningless: "
                        f"the file is damaged or came from a training run that diverged; {WHAT_TO_DO}"
                    )
    return None


def _shape(tensor: torch.Tensor) -> str:
    return "(" + ", ".join(str(n) for n in tensor.shape) + ")"


def state_mismatch(expected: Mapping[str, torch.Tensor], found: Mapping[str, Any]) -> str | None:
    """How the tensors ``found`` in a file differ from those a network ``expected``; None when they fit."""
    for key, tensor in expected.items():
        value = found.get(key)
        if value is None:
            continue
        if not isinstance(value, torch.Tensor):
            return f"{key!r} is a {type(value).__name__}, not a tensor"
        if value.shape != tensor.shape:
            return f"tensor {key!r} has shape {_shape(value)} in the file, the network expects {_shape(tensor)}"
    missing = [key for key in expected if key not in found]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        return f"the file lacks the tensor {missing[0]!r}{more}"
    unexpected = [key for key in found if key not in expected]
    if unexpected:
        more = f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
        return f"the file holds a tensor {unexpected[0]!r}{more} that the network does not have"
    return None
