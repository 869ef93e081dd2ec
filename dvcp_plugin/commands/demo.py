"""``dvcp demo``: colour a generated sample shot from its first frame and show how it went.

Writes, under ``--out``: ``truth/`` (the colour shot), ``grey/`` (its BT.601 luma, the input),
``key.png`` (true frame 0, the keyframe), ``colorized/`` (the result), ``colorized.mp4`` when ffmpeg
is installed, and ``contact_sheet.png`` (grey | dvcp | truth for a few frames). Prints the RGB PSNR
of the result against the truth, next to the baselines of ``dvcp eval``: DIS optical-flow
propagation and copying the keyframe's chroma onto every frame.

The demo owns what it writes in ``--out`` and nothing else there: it removes what an earlier demo
wrote, writes it again, and leaves every other entry of ``--out`` alone. Its own folders must hold
only its own files; one holding anything else is someone's, and the demo refuses it rather than
mix with it or delete it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import DvcpError
from ..evaluation.methods import BASELINES, SHORT_NAMES, colour_shot
from ..evaluation.metrics import mean_psnr
from ..evaluation.pictures import contact_sheet
from ..filters.images import read_image, write_image
from ..media.demo_shot import make_shot
from ..media.frame_writer import FrameFolder, VideoFile
from ..media.manifest import FRAMES_FILE, PARTIAL, SETTINGS_FILE
from ..media.paths import check_writable_folder
from ..media.sources import open_folder
from ..models.color import grey_u8
from ..options import Options
from ..service import Colouring
from ..stages.weights import find_weights
from .flags import add_option_flags, options_of

FRAMES, HEIGHT, WIDTH, FPS = 24, 192, 320, Fraction(24)
FRAME_NAMES = [f"{k:05d}.png" for k in range(FRAMES)]
# what the demo writes in --out: its files, and its folders with the files each holds
OWN_FILES = ("key.png", "contact_sheet.png", "colorized.mp4")
_RECORDS = {SETTINGS_FILE, FRAMES_FILE}
OWN_FOLDERS = {
    "grey": set(FRAME_NAMES),
    "truth": set(FRAME_NAMES),
    "colorized": {  # its frames and their record, and what a stopped run leaves of either
        *FRAME_NAMES, *_RECORDS, *(f".{name[:-4]}{PARTIAL}.png" for name in FRAME_NAMES),
        *(f"{name}{PARTIAL}" for name in _RECORDS),
    },
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--out, --weights, --device."""
    parser.add_argument("--out", type=Path, default=Path("dvcp-demo"), help="output folder (default ./dvcp-demo)")
    add_option_flags(parser, Options, ("weights", "device"))


def check_out(out: Path) -> None:
    """Refuse an ``--out`` whose entries named as the demo's hold what the demo did not write (see the module doc)."""
    if out.exists() and not out.is_dir():
        raise DvcpError(f"--out {out} is a file; give a folder")
    strangers = [name for name in OWN_FOLDERS if (out / name).exists() and not (out / name).is_dir()]
    strangers += [name for name in OWN_FILES if (out / name).is_dir()]
    for folder, names in OWN_FOLDERS.items():
        if (out / folder).is_dir():
            strangers += [f"{folder}/{p.name}" for p in (out / folder).iterdir() if p.name not in names]
    if strangers:
        raise DvcpError(
            f"--out {out} holds {sorted(strangers)[0]}, which dvcp demo did not write; move it, or give another "
            "folder"
        )
    check_writable_folder(out, "--out")


def clear_out(out: Path) -> None:
    """Remove what an earlier demo wrote in ``out`` (checked by :func:`check_out`); leave the rest."""
    for name in OWN_FILES:
        (out / name).unlink(missing_ok=True)
    for folder in OWN_FOLDERS:
        if (out / folder).is_dir():
            shutil.rmtree(out / folder)


def run(args: argparse.Namespace) -> int:
    """Make the shot, colour it, write the files and print the scores."""
    options = options_of(args, Options)
    find_weights(options.weights)
    out: Path = args.out
    check_out(out)
    clear_out(out)
    shot = make_shot(FRAMES, HEIGHT, WIDTH)
    greys = grey_u8(shot)
    for name in ("truth", "grey"):
        (out / name).mkdir(parents=True, exist_ok=True)
    for k in range(FRAMES):
        write_image(out / "truth" / FRAME_NAMES[k], shot[k])
        write_image(out / "grey" / FRAME_NAMES[k], greys[k])
    key = out / "key.png"
    write_image(key, shot[0])
    print(f"dvcp demo: colouring a {FRAMES}-frame {WIDTH}x{HEIGHT} sample shot from its frame 0", file=sys.stderr)

    source = open_folder(out / "grey", FPS)
    colouring = Colouring(source, {0: key}, options)  # the video reuses the frames computed for the folder
    colouring.write(FrameFolder(out / "colorized", source.names, ".png"), overwrite=True, description="colorized/")
    result = np.stack([read_image(out / "colorized" / f"{k:05d}.png") for k in range(FRAMES)])
    flow, key_copy = (colour_shot(BASELINES[name], shot) for name in ("flow", "key"))
    sheet = out / "contact_sheet.png"
    rows = [
        [(f"frame {k}: grey input", greys[k]), ("dvcp (keyframe)" if k == 0 else "dvcp", result[k]),
         ("truth", shot[k])]
        for k in (0, FRAMES // 3, 2 * FRAMES // 3, FRAMES - 1)
    ]
    write_image(sheet, contact_sheet(rows))
    video = out / "colorized.mp4" if shutil.which("ffmpeg") is not None else None
    if video is not None:
        colouring.write(VideoFile(video, FPS), overwrite=True, description=video.name)
    else:
        print("dvcp demo: ffmpeg not found, so no video was written (the frames are in colorized/)", file=sys.stderr)

    print(f"input (grey)    {out / 'grey'}/")
    print(f"keyframe        {key}")
    print(f"result frames   {out / 'colorized'}/")
    if video is not None:
        print(f"result video    {video}")
    print(f"contact sheet   {sheet}  (grey | dvcp | truth)")
    dvcp_db, flow_db = mean_psnr(result, shot), mean_psnr(flow, shot)
    print(f"PSNR frames 1-{FRAMES - 1} vs truth: dvcp {dvcp_db:.2f} dB, {SHORT_NAMES['flow']} {flow_db:.2f} dB, "
          f"{SHORT_NAMES['key']} {mean_psnr(key_copy, shot):.2f} dB; dvcp - flow {dvcp_db - flow_db:+.2f} dB")
    weights = f" --weights {args.weights}" if args.weights is not None else ""
    print(f"same run by hand: dvcp colorize {out / 'grey'} -k 0={key} -o {out / 'colorized'} --overwrite{weights}")
    return 0
