"""``dvcp colorize``: colour a folder of frames or a video from hand-coloured keyframes.

Frame folders are written at the input's bit depth (8-bit in, 8-bit RGB out; 16-bit or deeper
video in, 16-bit RGB out), one file per input frame under the input's names, and a rerun resumes:
frames already written and still matching their record are kept, and only when the input,
keyframes, weights and options are those that made them (see
:mod:`dvcp_plugin.media.frame_writer`). Video files are written by ffmpeg from YUV 4:4:4 at the
input's depth.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import vapoursynth as vs

from ..errors import DvcpError
from ..filters.files import file_digest
from ..filters.images import IMAGE_SUFFIXES
from ..hookspecs import STAGE_KINDS
from ..runtime.state_cache import UNKEYED_CUTS
from ..media.frame_writer import VIDEO_SUFFIXES, FrameFolder, Resume, VideoFile, write_frames, write_video
from ..media.output_lock import OutputLock
from ..media.paths import OutputError, check_writable_file, check_writable_folder
from ..media.render import Progress, RenderError, error_text
from ..media.sources import Source, input_identity, open_input
from ..stages.weights import find_weights

OUTPUT_SUFFIXES = (".png", ".tif", ".tiff", ".jpg")


@dataclass(frozen=True)
class Options:
    """The options of :func:`dvcp_plugin.colorize` that the command line passes on."""

    weights: Path | None = None
    device: str = "cpu"
    half: bool = False
    local_stage: str | None = None
    global_stage: str | None = None
    refine_stage: str | None = None
    chroma_scale: float | None = None
    stage_options: Mapping[str, Mapping[str, Any]] | None = None
    matrix: str | None = None
    cache_mb: float = 1024.0
    unkeyed_cuts: str = "error"
    threads: int | None = None

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`dvcp_plugin.colorize`."""
        return {
            "weights": None if self.weights is None else str(self.weights), "device": self.device,
            "half": self.half, "local_stage": self.local_stage, "global_stage": self.global_stage,
            "refine_stage": self.refine_stage, "chroma_scale": self.chroma_scale,
            "stage_options": self.stage_options, "matrix": self.matrix, "cache_mb": self.cache_mb,
            "unkeyed_cuts": self.unkeyed_cuts, "threads": self.threads,
        }


def parse_key(text: str) -> tuple[int, Path]:
    """``FRAME=IMAGE`` -> (frame, image path)."""
    frame, sep, image = text.partition("=")
    if sep and image and frame.strip().startswith("-") and frame.strip()[1:].isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: frame {frame.strip()} is negative; frames count from 0")
    if not sep or not frame.strip().isdigit() or not image:
        raise argparse.ArgumentTypeError(f"{text!r} is not FRAME=IMAGE (e.g. 0=key0000.png)")
    return int(frame), Path(image)


def parse_stage_options(text: str) -> dict[str, dict[str, Any]]:
    """``'{"global": {"imagenet_weights": "r18.pth"}}'`` -> options per stage kind."""
    try:
        options = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not JSON ({exc})") from None
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a JSON object {{kind: {{option: value}}}}")
    unknown = sorted(set(options) - set(STAGE_KINDS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown stage kind(s) {', '.join(unknown)}; kinds: {', '.join(STAGE_KINDS)}")
    return options


def parse_fps(text: str) -> Fraction:
    """``24``, ``23.976`` or ``24000/1001`` -> a positive fraction."""
    try:
        fps = Fraction(text).limit_denominator(1001)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a frame rate (e.g. 24 or 24000/1001)") from None
    if fps <= 0:
        raise argparse.ArgumentTypeError(f"the frame rate must be positive, not {text}")
    return fps


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """--weights and --device, shared with ``dvcp demo``."""
    parser.add_argument("--weights", type=Path, help="weights file (default: $DVCP_WEIGHTS, else the shipped weights)")
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1 (default: cpu)")


def add_unkeyed_cuts_argument(parser: argparse.ArgumentParser) -> None:
    """--unkeyed-cuts, shared with ``dvcp shots``."""
    parser.add_argument(
        "--unkeyed-cuts", choices=UNKEYED_CUTS, default="error",
        help="a scene change (_SceneChangePrev=1) without a keyframe: stop with an error (default), "
        "or continue the shot across it (for false cuts)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Input, keyframes, output, and the options of dvcp_plugin.colorize."""
    parser.add_argument(
        "input", type=Path,
        help="folder of frames (PNG, TIFF or JPEG; 8 or 16 bit; grey or colour; natural name order), a video file, "
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
    parser.add_argument(
        "--suffix", choices=OUTPUT_SUFFIXES,
        help="image type of output frames (default: the input's; JPEG input gives PNG, video input PNG)",
    )
    parser.add_argument("--fps", type=parse_fps, default=Fraction(24), help="frame rate of a frame folder (default 24)")
    parser.add_argument("--overwrite", action="store_true", help="replace earlier output instead of resuming")
    parser.add_argument(
        "--ffmpeg-args", metavar="ARGS",
        help="ffmpeg output options for video output (default: .mkv lossless FFV1; .mp4/.mov H.264 4:2:0 crf 16)",
    )
    add_engine_arguments(parser)
    parser.add_argument("--half", action="store_true", help="half precision (CUDA devices only)")
    parser.add_argument("--local-stage", help="local stage implementation (see `dvcp plugins`)")
    parser.add_argument("--global-stage", help="global stage implementation")
    parser.add_argument("--refine-stage", help="refine stage implementation")
    parser.add_argument("--chroma-scale", type=float, help="chroma working resolution as a fraction of the input's")
    parser.add_argument(
        "--stage-options", type=parse_stage_options, metavar="JSON",
        help='options of the stages, e.g. \'{"global": {"imagenet_weights": "resnet18-f37072fd.pth"}}\'',
    )
    parser.add_argument("--matrix", choices=("601", "709"), help="colour matrix (default: the input's tag, else 601)")
    parser.add_argument("--cache-mb", type=float, default=1024.0, help="state cache memory bound in MiB (default 1024)")
    add_unkeyed_cuts_argument(parser)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: VapourSynth's thread count)")


def colorize_node(source: Source, keys: Mapping[int, Path], fmt: int, options: Options) -> vs.VideoNode:
    """The colourised clip of ``source`` in format ``fmt``; bad keyframes or options are a DvcpError."""
    from .. import vsapi

    try:
        return vsapi.colorize(source.clip, {n: str(path) for n, path in keys.items()}, format=fmt, **options.kwargs())
    except vs.Error as exc:
        raise DvcpError(_without_function(error_text(exc))) from None


def _without_function(message: str) -> str:
    """A dvcp.colorize error's message without the function's name, which the command line names."""
    return message.removeprefix("dvcp.colorize: ")


def run_settings(source: Source, keys: Mapping[int, Path], options: Options) -> dict[str, Any]:
    """What decides the output's pixels, recorded in a frame folder to make resuming safe.

    The input and the keyframe images are identified by their content, so a changed input frame
    is noticed whatever its time stamp, and a moved or copied input is still the same input.
    """
    clip = source.clip
    return {
        "input": input_identity(source),
        "frames": clip.num_frames,
        "size": f"{clip.width}x{clip.height}",
        "keyframes": {str(n): file_digest(path) for n, path in sorted(keys.items())},
        "weights": file_digest(find_weights(options.weights)),
        "stages": [options.local_stage, options.global_stage, options.refine_stage],
        "stage_options": dict(options.stage_options or {}),
        "chroma_scale": options.chroma_scale,
        "matrix": options.matrix,
        "unkeyed_cuts": options.unkeyed_cuts,
        "half": options.half,
    } | ({"first_frame": source.first} if source.first else {})


def output_suffix(source: Source, requested: str | None) -> str:
    """The output frames' suffix: ``requested``, else the input's (JPEG and video give PNG)."""
    if requested is not None:
        if requested == ".jpg" and source.bits > 8:
            raise OutputError(f"JPEG holds 8-bit samples only; the input is {source.bits}-bit; use .png or .tif")
        return requested
    if source.suffix in (".png", ".tif", ".tiff"):
        return source.suffix
    return ".png"


def folder_format(source: Source) -> int:
    """RGB at the input's depth: RGB24 for 8-bit input, RGB48 for deeper."""
    return vs.RGB24 if source.bits == 8 else vs.RGB48


def video_format(source: Source) -> int:
    """YUV 4:4:4 at the input's depth (the luma is the input's, bit-exact)."""
    return vs.core.query_video_format(vs.YUV, vs.INTEGER, source.bits, 0, 0).id


def clip_fps(clip: vs.VideoNode) -> Fraction:
    """The clip's frame rate, 24 when it has none."""
    return Fraction(clip.fps) if clip.fps > 0 else Fraction(24)


def is_video(output: Path) -> bool:
    """Whether ``output`` names a video file (else it is a folder of frames)."""
    return output.suffix.lower() in VIDEO_SUFFIXES


def check_output(input_path: Path, output: Path) -> None:
    """Refuse an output that names an image, is a file where a folder is needed, or is the input."""
    video = is_video(output)
    if not video and output.suffix.lower() in IMAGE_SUFFIXES:
        raise OutputError(f"the output {output} names an image; give a folder for frames or a video file")
    if not video and output.exists() and not output.is_dir():
        raise OutputError(f"the output {output} exists and is not a folder")
    if input_path.exists() and output.resolve() == input_path.resolve():
        raise OutputError("the output folder is the input folder; choose another one so no frame is overwritten")


def output_sink(
    source: Source, output: Path, suffix: str | None = None, ffmpeg_args: str | None = None
) -> FrameFolder | VideoFile:
    """Where ``source`` is coloured to: a video file, or a frame folder (``suffix`` as in :func:`output_suffix`)."""
    if is_video(output):
        return VideoFile(output, clip_fps(source.clip), ffmpeg_args)
    return FrameFolder(output, source.names, output_suffix(source, suffix))


def colorize_into(
    source: Source, keys: Mapping[int, Path], sink: FrameFolder | VideoFile, options: Options, *,
    overwrite: bool = False, description: str | None = None, progress: Progress | None = None,
) -> Resume:
    """Colour ``source`` into ``sink`` as ``dvcp colorize`` does; the frames written and kept.

    A frame folder resumes under its record (:func:`run_settings`); a video file is written whole,
    every frame listed as to do. ``description`` labels a progress bar on stderr; ``progress`` is
    told of each frame written.
    """
    try:
        if isinstance(sink, VideoFile):
            node = colorize_node(source, keys, video_format(source), options)
            write_video(node, sink, overwrite, description=description, progress=progress)
            return Resume(todo=list(range(node.num_frames)))
        node = colorize_node(source, keys, folder_format(source), options)
        settings = run_settings(source, keys, options)
        return write_frames(node, sink, settings, overwrite, description=description, progress=progress)
    except RenderError as exc:
        raise DvcpError(_without_function(str(exc))) from None


def run(args: argparse.Namespace) -> int:
    """Colour INPUT into OUTPUT; exit 1 with a message on bad input."""
    keys: dict[int, Path] = {}
    for frame, image in args.keys:
        if frame in keys:
            raise DvcpError(f"two keyframes given for frame {frame}: {keys[frame]} and {image}")
        keys[frame] = image
    options = Options(
        weights=args.weights, device=args.device, half=args.half, local_stage=args.local_stage,
        global_stage=args.global_stage, refine_stage=args.refine_stage, chroma_scale=args.chroma_scale,
        stage_options=args.stage_options, matrix=args.matrix, cache_mb=args.cache_mb,
        unkeyed_cuts=args.unkeyed_cuts, threads=args.threads,
    )
    find_weights(options.weights)
    output: Path = args.output
    check_output(args.input, output)
    if is_video(output):  # before the lock beside it, so that its message names the output
        check_writable_file(output, "the output video")
    else:
        check_writable_folder(output, "the output folder")
    with OutputLock(output, "the output video" if is_video(output) else "the output folder"):
        return _colorize(args, keys, options)


def _colorize(args: argparse.Namespace, keys: Mapping[int, Path], options: Options) -> int:
    """The work of :func:`run`, holding the output's lock."""
    output: Path = args.output
    source = open_input(args.input, args.fps)
    sink = output_sink(source, output, args.suffix, args.ffmpeg_args)
    if isinstance(sink, VideoFile):
        sink.check(args.overwrite)
    else:
        sink.check()
    print(f"dvcp colorize: {source.description}", file=sys.stderr)
    for n, image in sorted(keys.items()):
        if n < len(source.names):
            print(f"dvcp colorize: keyframe {image} at frame {n} ({source.names[n]})", file=sys.stderr)
    description = output.name if isinstance(sink, VideoFile) else f"{output.name}/"
    resume = colorize_into(source, keys, sink, options, overwrite=args.overwrite, description=description)
    notes = []
    if resume.restarted:
        notes.append(f"every frame made again: the earlier run had not finished and differed ({resume.restarted})")
    if resume.kept:
        notes.append(f"{resume.kept} kept from an earlier run")
    if resume.redone:
        notes.append(f"{len(resume.redone)} that no longer matched their record written again: "
                     + ", ".join(resume.redone[:5]) + (", ..." if len(resume.redone) > 5 else ""))
    print(f"wrote {len(resume.todo)} frames to {output}" + (f" ({'; '.join(notes)})" if notes else ""))
    return 0
