"""The ``dvcp`` command: one sub-command per module in :mod:`dvcp_plugin.commands`.

This is the command line's edge. A ``DvcpError`` (a mistake the user can fix) is one line,
``dvcp COMMAND: error: ...``, and exit status 1, its advice on options in the command's words (a
flag, or a jobs file's key: a command module's ``reword``, by default
:func:`~dvcp_plugin.commands.flags.in_flag_words`). Any other exception is a bug: it is never worded
as a mistake of the input; it says it is an internal error, where its traceback was written and
that ``--debug`` prints it, and exits with status 70 (EX_SOFTWARE). Ctrl-C and SIGTERM stop a
command alike, leaving no partial output (status 130 and 143). dvcp's log (the ``logging`` records
of ``dvcp_plugin``) goes to stderr as ``dvcp COMMAND: ...`` lines, from INFO up, and from DEBUG up
with ``--debug``, which also prints the traceback of any error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import signal
import sys
import tempfile
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from .errors import DvcpError

# sub-command -> (module under dvcp_plugin.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "colorize": ("colorize", "colour a folder of frames, a video or a script's clip from hand-coloured keyframes"),
    "batch": ("batch", "colour every shot of a jobs file (TOML) on Ray, on this machine or a cluster"),
    "shots": ("shots", "list the shots of an input (its scene changes) and the keyframes each one has"),
    "demo": ("demo", "colour a generated sample shot and write the result, a contact sheet and PSNR"),
    "doctor": ("doctor", "report versions, devices, threads, registered stages and weights"),
    "plugins": ("plugins", "list the registered stage implementations and where they come from"),
    "bench": ("bench", "measure speed and memory per stage and end to end, on CPU and GPU"),
    "train": ("train", "train the learned stages on colour sequences, resume, or export weights"),
    "eval": ("eval", "score colour propagation on colour sequences (PSNR, SSIM, plot, contact sheet)"),
}


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, ``dvcp COMMAND: error: ...``, and exit status 1."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(1, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# "-k -1=key.png": argparse takes "-1=key.png" for an option, not for -k's value
_DASH_KEY = re.compile(r"^-\d+=")


def _attach_key_values(argv: list[str]) -> list[str]:
    """``-k -1=IMAGE`` -> ``--key=-1=IMAGE``, so that the keyframe's parser reports the frame number."""
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in ("-k", "--key") and _DASH_KEY.match(arg):
            out[-1] = f"--key={arg}"
        else:
            out.append(arg)
    return out


INTERNAL_ERROR = 70  # exit status of a bug (sysexits' EX_SOFTWARE)
_DEBUG_HELP = "log everything, and print the traceback of any error"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command's options (this loads torch and VapourSynth)."""
    from .commands.flags import in_flag_words

    parser = _Parser(prog="dvcp", description="Deep Video Color Propagation for VapourSynth.")
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(f"dvcp_plugin.commands.{module_name}")
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=_DEBUG_HELP)
        module.add_arguments(command)
        # the words of a message's advice on options: flags, unless the command words them its own way
        command.set_defaults(run=module.run, reword=getattr(module, "reword", in_flag_words))
    return parser


class _Stderr(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is when a record comes (tests replace it)."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


@contextmanager
def _log_to_stderr(command: str, debug: bool) -> Iterator[None]:
    """Show dvcp's log on stderr as ``dvcp COMMAND: ...`` lines while the command runs."""
    logger = logging.getLogger("dvcp_plugin")
    handler, level = _Stderr(), logger.level
    handler.setFormatter(logging.Formatter(f"dvcp {command}: " + ("[%(name)s] " if debug else "") + "%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _internal_error(command: str, exc: BaseException, debug: bool) -> int:
    """Say that ``exc`` is a bug, and where its traceback is; status :data:`INTERNAL_ERROR`."""
    text = "".join(traceback.format_exception(exc))
    if debug:
        where = "its traceback is above"
        print(text, file=sys.stderr, end="")
    else:
        try:
            with tempfile.NamedTemporaryFile(
                "w", prefix=f"dvcp-{command}-", suffix=".traceback.txt", delete=False
            ) as file:
                file.write(text)
            where = f"its traceback is in {file.name}; run again with --debug to print it"
        except OSError:
            where = "run again with --debug to print its traceback"
    print(f"dvcp {command}: internal error (a bug in dvcp or a plugin, not a mistake in what you gave): "
          f"{type(exc).__name__}: {exc}; {where}", file=sys.stderr)
    return INTERNAL_ERROR


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dvcp`` console script."""
    try:
        parser = build_parser()
    except (ImportError, OSError, MemoryError) as exc:  # torch or VapourSynth could not be loaded
        print(f"dvcp: error: cannot load torch and VapourSynth ({str(exc).strip() or type(exc).__name__}); "
              "importing them maps several GB of address space: if this process's memory is limited "
              "(ulimit -v, a container), allow it more", file=sys.stderr)
        return 1
    args, unknown = parser.parse_known_args(_attach_key_values(sys.argv[1:] if argv is None else list(argv)))
    if unknown:
        print(f"dvcp {args.command}: error: unrecognized arguments: {' '.join(unknown)} "
              f"(see dvcp {args.command} --help)", file=sys.stderr)
        return 1
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    with _log_to_stderr(args.command, args.debug):
        try:
            return int(args.run(args) or 0)
        except DvcpError as exc:
            if args.debug:
                traceback.print_exception(exc, file=sys.stderr)
            print(f"dvcp {args.command}: error: {args.reword(str(exc))}", file=sys.stderr)
            return 1
        except Terminated:
            print("dvcp: terminated", file=sys.stderr)
            return 128 + signal.SIGTERM
        except KeyboardInterrupt:
            print("dvcp: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:  # noqa: BLE001 - a bug: said to be one, never as a clean error
            return _internal_error(args.command, exc, args.debug)
        finally:
            if main_thread:
                signal.signal(signal.SIGTERM, previous)


class Terminated(KeyboardInterrupt):
    """SIGTERM, stopping a command as Ctrl-C does: what it was writing is finished or removed, nothing is left."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


if __name__ == "__main__":
    sys.exit(main())
