"""The options of colouring as command-line flags, one per option, made from its declaration.

``--chroma-scale`` is the option ``chroma_scale`` of :class:`~dvcp_plugin.options.Options`: its
help, its choices and the type of its value come from there. A flag not given is None, so the
option takes its default where :meth:`~dvcp_plugin.options.Options.of` fills defaults in.
"""

from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from ..errors import OptionError
from ..options import CheckedOptions, EngineOptions, OptionInfo, StageOptions, option_infos, reword_options


def parse_stage_options(text: str) -> dict[str, dict[str, Any]]:
    """``'{"global": {"imagenet_weights": "r18.pth"}}'`` -> options per stage kind, checked."""
    try:
        options = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not JSON ({exc})") from None
    info = next(info for info in option_infos(EngineOptions) if info.name == "stage_options")
    checked = _checked(info)(options)
    return checked.plain() if checked is not None else {}


def _checked(info: OptionInfo) -> Callable[[Any], Any]:
    """An argparse type: the option's own check, its problem the usage error."""

    def parse(value: Any) -> Any:
        try:
            return info.spec.check(info.name, value)
        except OptionError as exc:
            raise argparse.ArgumentTypeError(exc.problem) from None

    return parse


def _argument_type(info: OptionInfo) -> Callable[[str], Any]:
    """How the flag's text becomes the option's value."""
    if info.kind is StageOptions:
        return parse_stage_options
    if info.kind in (int, float, Path, str):
        return info.kind
    return _checked(info)


def add_option_flags(parser: argparse.ArgumentParser, cls: type, names: Collection[str] | None = None) -> None:
    """A flag for each option of ``cls`` (those in ``names``, when given)."""
    for info in option_infos(cls):
        if names is not None and info.name not in names:
            continue
        name = flag(info)
        if info.kind is bool:
            parser.add_argument(name, dest=info.name, action="store_true", default=None, help=info.spec.help)
        elif info.spec.choices is not None:
            parser.add_argument(name, dest=info.name, choices=info.spec.choices, help=info.spec.help)
        else:
            metavar = "JSON" if info.kind is StageOptions else None
            parser.add_argument(name, dest=info.name, type=_argument_type(info), metavar=metavar, help=info.spec.help)


def options_of[Opts: CheckedOptions](args: argparse.Namespace, cls: type[Opts]) -> Opts:
    """The options of ``cls`` that the flags of ``args`` give (the others take their defaults)."""
    given = {info.name: getattr(args, info.name) for info in option_infos(cls) if hasattr(args, info.name)}
    return cls.of(given)


def flag(info: OptionInfo) -> str:
    """The option's flag: ``chroma_scale`` -> ``--chroma-scale``."""
    return "--" + info.name.replace("_", "-")


def in_flag_words(text: str) -> str:
    """A message in the command line's words: its advice ``half=False`` is ``drop --half``,
    ``chroma_scale=0.25`` is ``--chroma-scale 0.25`` (see :func:`~dvcp_plugin.options.reword_options`)."""

    def word(info: OptionInfo, value: Any) -> str:
        if info.kind is bool:
            return flag(info) if value else f"drop {flag(info)}"
        return f"{flag(info)} {shlex.quote(str(value))}"

    return reword_options(text, word)
