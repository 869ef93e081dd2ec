"""The errors dvcp raises on purpose: every one a :class:`DvcpError`.

A ``DvcpError`` is a mistake the user can fix, and its message says how. Any other exception is a
bug (in dvcp or in a plugin). The edges turn a ``DvcpError`` into what their users read: the
VapourSynth functions into ``vs.Error("dvcp.<function>: ...")``, the command line into one line
``dvcp <command>: error: ...``; nothing below them parses an error's text.

This module imports nothing, so that every layer, ``models/`` included, raises from it.
"""

from __future__ import annotations

from typing import Any

_NO_VALUE: Any = object()


class DvcpError(Exception):
    """Base class of every error dvcp raises on purpose.

    ``names_frame``: the message names the frame it is about itself ("frame 20 starts a new shot
    ..."), so an edge saying which frame failed leaves it as it is (see :func:`about_frame`).
    """

    names_frame = False


def about_frame(n: int, error: BaseException | str) -> str:
    """The message of ``error``, raised making frame ``n``: ``frame n: ...``, once (see ``names_frame``)."""
    if isinstance(error, DvcpError) and error.names_frame:
        return str(error)
    return f"frame {n}: {error}"


class OptionError(DvcpError):
    """An option with a value it cannot take: ``name``, ``problem`` ("must be in (0, 1]") and ``value``.

    Its message is the VapourSynth functions' way of naming it, ``chroma_scale=1.5 must be in
    (0, 1]``; other interfaces (a jobs file) word it from the parts.
    """

    def __init__(self, name: str, problem: str, value: Any = _NO_VALUE) -> None:
        self.name, self.problem, self.value = name, problem, value
        shown = name if value is _NO_VALUE else f"{name}={value!r}"
        super().__init__(f"{shown} {problem}")


class FilterError(DvcpError):
    """Bad input to a filter: a clip, keyframe or format the user can fix; the message says how."""


class UnknownStageError(DvcpError, KeyError):
    """A stage name that no registered plugin provides."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DuplicateStageError(DvcpError):
    """Two plugins registered the same stage name for one kind."""


class PluginLoadError(DvcpError):
    """A third-party plugin from the entry-point group could not be loaded."""


class WeightsError(DvcpError):
    """Weights that are missing, unreadable, corrupt or do not fit the network."""


class StageError(DvcpError):
    """A stage that cannot be built: options it does not take, or pretrained weights it cannot find."""
