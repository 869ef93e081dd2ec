"""The ``dvcp`` command: one sub-command per module in :mod:`dvcp_plugin.commands`."""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import DvcpError

# sub-command -> (module under dvcp_plugin.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "colorize": ("colorize", "colour a folder of frames or a video from hand-coloured keyframes"),
    "batch": ("batch", "colour every shot of a jobs file (TOML) on Ray, on this machine or a cluster"),
    "demo": ("demo", "colour a generated sample shot and write the result, a contact sheet and PSNR"),
    "doctor": ("doctor", "report versions, devices, threads, registered stages and weights"),
    "plugins": ("plugins", "list the registered stage implementations and where they come from"),
    "bench": ("bench", "measure speed and memory per stage and end to end, on CPU and GPU"),
    "train": ("train", "train the learned stages on colour sequences, resume, or export weights"),
    "eval": ("eval", "score colour propagation on colour sequences (PSNR, SSIM, plot, contact sheet)"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command's options."""
    parser = argparse.ArgumentParser(
        prog="dvcp", description="Deep Video Color Propagation for VapourSynth."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(f"dvcp_plugin.commands.{module_name}")
        command = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dvcp`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except DvcpError as exc:
        print(f"dvcp {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("dvcp: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
