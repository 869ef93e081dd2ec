"""``dvcp colorize``: colour a folder of frames, a video or a script's clip from hand-coloured keyframes.

Frame folders are written at the input's bit depth, one file per input frame under the input's
names, and a rerun resumes (see :mod:`dvcp_plugin.service`); video files are written by ffmpeg.
The options are those of :class:`~dvcp_plugin.options.Options` and
:class:`~dvcp_plugin.options.OutputOptions`, one flag each.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import DvcpError
from ..media.frame_writer import VIDEO_SUFFIXES, VideoFile
from ..media.outputs import check_output, lock_output, output_sink
from ..options import Options, OutputOptions
from ..service import colorize_into
from ..stages.weights import find_weights
from .flags import add_option_flags, options_of
from .inputs import add_input_arguments, open_command_input


def parse_key(text: str) -> tuple[int, Path]:
    """``FRAME=IMAGE`` -> (frame, image path)."""
    frame, sep, image = text.partition("=")
    if sep and image and frame.strip().startswith("-") and frame.strip()[1:].isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: frame {frame.strip()} is negative; frames count from 0")
    if not sep or not frame.strip().isdigit() or not image:
        raise argparse.ArgumentTypeError(f"{text!r} is not FRAME=IMAGE (e.g. 0=key0000.png)")
    return int(frame), Path(image)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Input, keyframes, output, how it is written, and the options of dvcp_plugin.colorize."""
    add_input_arguments(
        parser,
        "folder of frames (PNG, TIFF or JPEG; 8 or 16 bit; grey or colour; natural name order), a video file, "
        "or a VapourSynth script (.vpy) whose output 0 is the clip",
    )
    parser.add_argument(
        "-k", "--key", dest="keys", type=parse_key, action="append", required=True, metavar="FRAME=IMAGE",
        help="colour keyframe IMAGE for frame FRAME (0-based position in the input; repeat for more, at any frames "
        "of a shot: each frame is coloured from the keyframes before and after it in its shot)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, required=True,
        help=f"output folder of frames, or a video file ({', '.join(VIDEO_SUFFIXES)}) written with ffmpeg",
    )
    add_option_flags(parser, OutputOptions)
    parser.add_argument("--overwrite", action="store_true", help="replace earlier output instead of resuming")
    parser.add_argument(
        "--resume-anyway", action="store_true",
        help="resume a frame folder made by another dvcp version or on another device, keeping its frames "
        "(they may differ slightly from this run's)",
    )
    add_option_flags(parser, Options)


def run(args: argparse.Namespace) -> int:
    """Colour INPUT into OUTPUT; exit 1 with a message on bad input."""
    keys: dict[int, Path] = {}
    for frame, image in args.keys:
        if frame in keys:
            raise DvcpError(f"two keyframes given for frame {frame}: {keys[frame]} and {image}")
        keys[frame] = image
    options, output_options = options_of(args, Options), options_of(args, OutputOptions)
    find_weights(options.weights)
    output: Path = args.output
    check_output(args.input, output)
    with lock_output(output):
        return _colorize(args, keys, options, output_options)


def _colorize(args: argparse.Namespace, keys: dict[int, Path], options: Options, output_options: OutputOptions) -> int:
    """The work of :func:`run`, holding the output's lock."""
    output: Path = args.output
    source = open_command_input(args, output_options.fps)
    sink = output_sink(source, output, output_options)
    if isinstance(sink, VideoFile):
        sink.check(args.overwrite)
    else:
        sink.check()
    print(f"dvcp colorize: {source.description}", file=sys.stderr)
    for n, image in sorted(keys.items()):
        if n < len(source.names):
            print(f"dvcp colorize: keyframe {image} at frame {n} ({source.names[n]})", file=sys.stderr)
    description = output.name if isinstance(sink, VideoFile) else f"{output.name}/"
    resume = colorize_into(
        source, keys, sink, options, overwrite=args.overwrite, description=description, other_build=args.resume_anyway
    )
    notes = []
    if resume.restarted:
        notes.append(f"every frame made again: the earlier run had not finished and differed ({resume.restarted})")
    if resume.kept:
        notes.append(f"{resume.kept} kept from an earlier run")
    if resume.rekeyed:
        notes.append(f"{resume.rekeyed} made again: the keyframes of their shots changed")
    if resume.redone:
        notes.append(f"{len(resume.redone)} that no longer matched their record written again: "
                     + ", ".join(resume.redone[:5]) + (", ..." if len(resume.redone) > 5 else ""))
    print(f"wrote {len(resume.todo)} frames to {output}" + (f" ({'; '.join(notes)})" if notes else ""))
    return 0
