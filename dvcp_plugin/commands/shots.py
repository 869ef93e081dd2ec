"""``dvcp shots``: list the shots of an input and their keyframes, before anything is coloured.

Shots start at frames with ``_SceneChangePrev=1``: give a VapourSynth script (``.vpy``) whose output
carries a scene detector's properties; a frame folder or a video has one shot. With keyframes
(``-k``, as for ``dvcp colorize``), a shot that holds no keyframe is marked, and the command fails
(exit 1) naming each one, so a batch can check its keyframes before a long run.
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction

from ..errors import DvcpError
from ..options import Options
from ..service import input_shots
from .colorize import parse_key
from .flags import add_option_flags, options_of
from .inputs import add_input_arguments, open_command_input


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Input, keyframes and --unkeyed-cuts."""
    add_input_arguments(
        parser, "a VapourSynth script (.vpy) whose output has _SceneChangePrev properties, a video or a frame folder"
    )
    parser.add_argument(
        "-k", "--key", dest="keys", type=parse_key, action="append", default=[], metavar="FRAME=IMAGE",
        help="a keyframe, as for dvcp colorize (only its frame number is used; repeat for more)",
    )
    add_option_flags(parser, Options, ("unkeyed_cuts",))


def run(args: argparse.Namespace) -> int:
    """Print one line per shot; exit 1 when keyframes were given and a shot holds none."""
    source = open_command_input(args, Fraction(24))
    keys = {frame: str(image) for frame, image in args.keys}
    print(f"dvcp shots: {source.description}", file=sys.stderr)
    shots = input_shots(source, keys, options_of(args, Options).unkeyed_cuts)
    print(f"{'shot':>5} {'first':>7} {'last':>7} {'frames':>7}  keyframes")
    for number, shot in enumerate(shots, 1):
        listed = " ".join(map(str, shot.keyframes)) or "-"
        mark = "" if shot.keyed or not keys else "   <- no keyframe"
        print(f"{number:>5} {shot.first:>7} {shot.last:>7} {shot.frames:>7}  {listed}{mark}")
    missing = [shot.first for shot in shots if not shot.keyed]
    if keys and missing:
        raise DvcpError(
            f"{len(missing)} shot(s) hold no keyframe; their first frames: {', '.join(map(str, missing))}; "
            "give one in each (-k FRAME=IMAGE), or --unkeyed-cuts continue where a cut is false"
        )
    return 0
