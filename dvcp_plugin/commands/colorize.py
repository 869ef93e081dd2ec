"""``dvcp colorize``: colour a folder of frames or a video from hand-coloured keyframes.

Frame folders are written at the input's bit depth (8-bit in, 8-bit RGB out; 16-bit or deeper
video in, 16-bit RGB out), one file per input frame under the input's names, and a rerun resumes:
frames already written are kept (see :mod:`dvcp_plugin.media.frame_writer`). Video files are written by
ffmpeg from YUV 4:4:4 at the input's depth.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import vapoursynth as vs

from ..errors import DvcpError
from ..filters.images import IMAGE_SUFFIXES
from ..media.frame_writer import VIDEO_SUFFIXES, FrameFolder, OutputError, VideoFile
from ..media.render import render
from ..media.sources import Source, open_input
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
    matrix: str | None = None
    cache_mb: float = 1024.0
    threads: int | None = None

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`dvcp_plugin.colorize`."""
        return {
            "weights": None if self.weights is None else str(self.weights), "device": self.device,
            "half": self.half, "local_stage": self.local_stage, "global_stage": self.global_stage,
            "refine_stage": self.refine_stage, "chroma_scale": self.chroma_scale, "matrix": self.matrix,
            "cache_mb": self.cache_mb, "threads": self.threads,
        }


def parse_key(text: str) -> tuple[int, Path]:
    """``FRAME=IMAGE`` -> (frame, image path)."""
    frame, sep, image = text.partition("=")
    if not sep or not frame.strip().isdigit() or not image:
        raise argparse.ArgumentTypeError(f"{text!r} is not FRAME=IMAGE (e.g. 0=key0000.png)")
    return int(frame), Path(image)


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Input, keyframes, output, and the options of dvcp_plugin.colorize."""
    parser.add_argument(
        "input", type=Path,
        help="folder of frames (PNG, TIFF or JPEG; 8 or 16 bit; grey or colour; natural name order) or a video file",
    )
    parser.add_argument(
        "-k", "--key", dest="keys", type=parse_key, action="append", required=True, metavar="FRAME=IMAGE",
        help="colour keyframe IMAGE for frame FRAME (0-based position in the input; repeat for more; one at 0)",
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
    parser.add_argument("--matrix", choices=("601", "709"), help="colour matrix (default: the input's tag, else 601)")
    parser.add_argument("--cache-mb", type=float, default=1024.0, help="state cache memory bound in MiB (default 1024)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: VapourSynth's thread count)")


def _vs_message(exc: vs.Error) -> str:
    text = str(exc).strip()
    return text.removeprefix("dvcp.colorize: ")


def colorize_node(source: Source, keys: Mapping[int, Path], fmt: int, options: Options) -> vs.VideoNode:
    """The colourised clip of ``source`` in format ``fmt``; bad keyframes or options are a DvcpError."""
    from .. import vsapi

    try:
        return vsapi.colorize(source.clip, {n: str(path) for n, path in keys.items()}, format=fmt, **options.kwargs())
    except vs.Error as exc:
        raise DvcpError(_vs_message(exc)) from None


def _digest(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_settings(source: Source, keys: Mapping[int, Path], options: Options, input_path: Path) -> dict[str, Any]:
    """What decides the output's pixels, recorded in a frame folder to make resuming safe."""
    clip = source.clip
    return {
        "input": str(input_path.resolve()),
        "frames": clip.num_frames,
        "size": f"{clip.width}x{clip.height}",
        "keyframes": {str(n): _digest(path) for n, path in sorted(keys.items())},
        "weights": _digest(find_weights(options.weights)),
        "stages": [options.local_stage, options.global_stage, options.refine_stage],
        "chroma_scale": options.chroma_scale,
        "matrix": options.matrix,
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


Progress = Callable[[int], None]  # called with each frame's number once it is written


def write_frames(
    node: vs.VideoNode, folder: FrameFolder, settings: Mapping[str, Any], overwrite: bool = False,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Render ``node`` (RGB) into ``folder``, resuming; (frames written, frames kept from an earlier run).

    A progress bar goes to stderr, or, when ``progress`` is given, each written frame to it.
    """
    todo = folder.prepare(settings, overwrite)
    kept = len(folder.names) - len(todo)
    if kept and progress is None:
        print(f"dvcp: resuming: {kept} frame(s) in {folder.folder} are kept", file=sys.stderr)
    _render(node, todo, folder, f"{folder.folder.name}/", progress)
    return len(todo), kept


def write_video(
    node: vs.VideoNode, video: VideoFile, overwrite: bool = False, progress: Progress | None = None
) -> int:
    """Render ``node`` (YUV 4:4:4) into ``video`` through ffmpeg; the number of frames written."""
    video.prepare(overwrite)
    _render(node, range(node.num_frames), video, video.path.name, progress)
    return node.num_frames


def clip_fps(clip: vs.VideoNode) -> Fraction:
    """The clip's frame rate, 24 when it has none."""
    return Fraction(clip.fps) if clip.fps > 0 else Fraction(24)


def _render(
    node: vs.VideoNode, frames: Iterable[int], sink: FrameFolder | VideoFile, description: str,
    progress: Progress | None,
) -> None:
    try:
        render(node, list(frames), sink, in_flight=vs.core.num_threads, description=description, progress=progress)
    except vs.Error as exc:
        raise DvcpError(_vs_message(exc)) from None


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


def colorize_into(
    source: Source, keys: Mapping[int, Path], output: Path, options: Options, input_path: Path, *,
    suffix: str | None = None, overwrite: bool = False, ffmpeg_args: str | None = None,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Colour ``source`` into ``output`` as ``dvcp colorize`` does; (frames written, frames kept).

    A frame folder resumes (frames of an earlier run with the same settings are kept); a video
    file is written whole. ``progress`` as in :func:`write_frames`.
    """
    if is_video(output):
        sink = VideoFile(output, clip_fps(source.clip), ffmpeg_args)
        node = colorize_node(source, keys, video_format(source), options)
        return write_video(node, sink, overwrite, progress), 0
    folder = FrameFolder(output, source.names, output_suffix(source, suffix))
    node = colorize_node(source, keys, folder_format(source), options)
    settings = run_settings(source, keys, options, input_path)
    return write_frames(node, folder, settings, overwrite, progress)


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
        matrix=args.matrix, cache_mb=args.cache_mb, threads=args.threads,
    )
    find_weights(options.weights)
    output: Path = args.output
    check_output(args.input, output)
    source = open_input(args.input, args.fps)
    print(f"dvcp colorize: {source.description}", file=sys.stderr)
    for n, image in sorted(keys.items()):
        if n < len(source.names):
            print(f"dvcp colorize: keyframe {image} at frame {n} ({source.names[n]})", file=sys.stderr)
    written, kept = colorize_into(
        source, keys, output, options, args.input, suffix=args.suffix, overwrite=args.overwrite,
        ffmpeg_args=args.ffmpeg_args,
    )
    print(f"wrote {written} frames to {output}" + (f" ({kept} kept from an earlier run)" if kept else ""))
    return 0
