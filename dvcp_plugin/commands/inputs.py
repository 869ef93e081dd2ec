"""The input of ``dvcp colorize`` and ``dvcp shots``: a frame folder, a video or a script, and a script's
arguments (``-a KEY=VALUE``, as vspipe takes them)."""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

from ..media.sources import Source, open_input


def parse_argument(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` -> (key, value), as vspipe's ``-a`` takes it."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE (e.g. input=film.mkv)")
    return key, value


def add_input_arguments(parser: argparse.ArgumentParser, help: str) -> None:
    """INPUT and ``-a/--arg KEY=VALUE``."""
    parser.add_argument("input", type=Path, help=help)
    parser.add_argument(
        "-a", "--arg", dest="script_args", type=parse_argument, action="append", default=[], metavar="KEY=VALUE",
        help="an argument of a script input, as vspipe -a gives it: the global KEY holds the text VALUE (repeat "
        "for more); the script runs in its own folder, so its relative paths are relative to it",
    )


def open_command_input(args: argparse.Namespace, fps: Fraction) -> Source:
    """The input that INPUT and ``-a`` name."""
    return open_input(args.input, fps, dict(args.script_args))
