"""The ``dvcp`` command: one sub-command per module in :mod:`dvcp_plugin.commands`."""

from __future__ import annotations

import argparse
import importlib
import re
import signal
import sys
import threading
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command's options."""
    parser = _Parser(prog="dvcp", description="Deep Video Color Propagation for VapourSynth.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(f"dvcp_plugin.commands.{module_name}")
        command = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


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
    try:
        return int(args.run(args) or 0)
    except DvcpError as exc:
        print(f"dvcp {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except Terminated:
        print("dvcp: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("dvcp: interrupted", file=sys.stderr)
        return 130
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


class Terminated(KeyboardInterrupt):
    """SIGTERM, stopping a command as Ctrl-C does: what it was writing is finished or removed, nothing is left."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


if __name__ == "__main__":
    sys.exit(main())
