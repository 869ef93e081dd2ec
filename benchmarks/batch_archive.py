"""A generated archive for measuring ``dvcp batch``: grey shots, their keyframes and a jobs file.

    .venv/bin/python benchmarks/batch_archive.py ARCHIVE [--shots 6 --frames 32 --size 320x192]
    .venv/bin/dvcp batch ARCHIVE/jobs.toml --workers 2

Each shot is the sample shot of ``dvcp demo`` drawn with its own seed (``shotNN/`` of grey PNG
frames, ``keyNN.png`` its true frame 0); ``jobs.toml`` colours each into ``out/shotNN/``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dvcp_plugin.filters.images import write_image
from dvcp_plugin.media.demo_shot import make_shot
from dvcp_plugin.models.color import grey_u8


def main() -> None:
    """Write the archive."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive", type=Path)
    parser.add_argument("--shots", type=int, default=6)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--size", default="320x192", help="WIDTHxHEIGHT")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.split("x"))
    jobs = []
    for k in range(args.shots):
        shot = make_shot(args.frames, height, width, seed=k)
        (args.archive / f"shot{k:02d}").mkdir(parents=True, exist_ok=True)
        for n, frame in enumerate(shot):
            write_image(args.archive / f"shot{k:02d}" / f"{n:05d}.png", grey_u8(frame))
        write_image(args.archive / f"key{k:02d}.png", shot[0])
        jobs.append(
            f'[[shot]]\ninput = "shot{k:02d}"\noutput = "out/shot{k:02d}"\nkeyframes = {{ 0 = "key{k:02d}.png" }}\n'
        )
    (args.archive / "jobs.toml").write_text("\n".join(jobs))
    print(f"{args.shots} shots of {args.frames} frames {width}x{height}: {args.archive / 'jobs.toml'}")


if __name__ == "__main__":
    main()
