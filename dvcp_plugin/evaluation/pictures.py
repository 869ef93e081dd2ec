"""Pictures of results: PSNR by frame index (``dvcp eval``), and contact sheets of labelled frames
(``dvcp eval`` and ``dvcp demo``).

Drawn with Pillow so the package needs no plotting library.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..training.data import Sequence as FrameSequence
from ..training.data import frame_planes, load_frame
from ..training.degradations import NAMES, Degradations, degrade
from .protocol import sequence_seed

_BACKGROUND = (255, 255, 255)
_AXIS = (40, 40, 40)
_GRID = (225, 225, 225)
_KEY = (150, 150, 150)
_LABEL_BAND, _TITLE_BAND, _GAP = 18, 28, 6  # contact sheet: pixels above each tile, above the rows, between columns


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def plot_psnr_by_frame(
    path: str | Path,
    curves: Mapping[str, Sequence[float | None]],
    colours: Mapping[str, tuple[int, int, int]],
    title: str,
    size: tuple[int, int] = (900, 520),
) -> Path:
    """Line plot of PSNR (dB) against frame number (the first value is frame 0; None is a frame not
    scored, a keyframe, where the line breaks); writes a PNG."""
    values = [v for series in curves.values() for v in series if v is not None]
    if not values:
        raise ValueError("nothing to plot: no PSNR values")
    width, height = size
    left, right, top, bottom = 70, 20, 50, 60
    low = math.floor(min(values) / 2.0) * 2.0
    high = math.ceil(max(values) / 2.0) * 2.0
    high = high if high > low else low + 2.0
    last = max(len(series) for series in curves.values()) - 1
    image = Image.new("RGB", size, _BACKGROUND)
    draw = ImageDraw.Draw(image)
    font, small = _font(16), _font(13)

    def x_of(frame: float) -> float:
        return left + frame / max(1, last) * (width - left - right)

    def y_of(db: float) -> float:
        return top + (high - db) / (high - low) * (height - top - bottom)

    step_db = 2.0 if high - low <= 20 else 5.0
    db = low
    while db <= high + 1e-9:
        y = y_of(db)
        draw.line([(left, y), (width - right, y)], fill=_GRID)
        draw.text((left - 8, y), f"{db:g}", fill=_AXIS, font=small, anchor="rm")
        db += step_db
    tick = 1 if last <= 12 else 5 if last <= 40 else 10
    for frame in range(0, last + 1, tick):
        x = x_of(frame)
        draw.line([(x, height - bottom), (x, height - bottom + 5)], fill=_AXIS)
        draw.text((x, height - bottom + 8), str(frame), fill=_AXIS, font=small, anchor="mt")
    for frame in range(last + 1):  # frames no curve scores (keyframes): a dashed line marked "key"
        if all(frame >= len(series) or series[frame] is None for series in curves.values()):
            x = x_of(frame)
            for y in range(top, height - bottom, 8):
                draw.line([(x, y), (x, min(y + 4, height - bottom))], fill=_KEY)
            draw.text((x, top - 4), "key", fill=_KEY, font=small, anchor="mb")
    draw.rectangle([left, top, width - right, height - bottom], outline=_AXIS)
    draw.text((width / 2, 12), title, fill=_AXIS, font=font, anchor="mt")
    draw.text(((left + width - right) / 2, height - 22), "frame", fill=_AXIS, font=small, anchor="mt")
    draw.text((12, top - 30), "PSNR (dB)", fill=_AXIS, font=small)
    legend_y = top + 10
    for name, series in curves.items():
        colour = colours.get(name, _AXIS)
        for run in _runs(series):
            points = [(x_of(frame), y_of(v)) for frame, v in run]
            if len(points) > 1:
                draw.line(points, fill=colour, width=2)
            else:
                x, y = points[0]
                draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
        draw.line([(width - right - 250, legend_y + 7), (width - right - 225, legend_y + 7)], fill=colour, width=3)
        draw.text((width - right - 218, legend_y), name, fill=_AXIS, font=small)
        legend_y += 20
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path


def _runs(series: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    """The stretches of consecutive frames with a value, as (frame, value) lists."""
    runs: list[list[tuple[int, float]]] = []
    for frame, value in enumerate(series):
        if value is None:
            continue
        if runs and runs[-1][-1][0] == frame - 1:
            runs[-1].append((frame, value))
        else:
            runs.append([(frame, value)])
    return runs


def contact_sheet(
    rows: Sequence[Sequence[tuple[str, np.ndarray]]], title: str | None = None, tile_width: int = 320
) -> np.ndarray:
    """Rows of (label, image) tiles as one uint8 RGB image (H,W,3).

    Images are uint8 grey (H,W) or RGB (H,W,3) of one size, scaled down to ``tile_width`` when
    wider. Each tile has its label in a white band above it; ``title`` heads the sheet.
    """
    if not rows or not rows[0]:
        raise ValueError("nothing to show on the contact sheet: no frames")
    height, width = rows[0][0][1].shape[:2]
    tile_w = min(tile_width, width)
    tile_h = max(1, round(height * tile_w / width))
    columns = max(len(row) for row in rows)
    top = _TITLE_BAND if title else 0
    cell_h = _LABEL_BAND + tile_h
    sheet = Image.new("RGB", (columns * tile_w + (columns - 1) * _GAP, top + len(rows) * cell_h), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((4, top / 2), title, fill=_AXIS, font=_font(16), anchor="lm")
    small = _font(13)
    for r, row in enumerate(rows):
        y = top + r * cell_h
        for c, (label, image) in enumerate(row):
            x = c * (tile_w + _GAP)
            draw.text((x + 4, y + _LABEL_BAND / 2), label, fill=_AXIS, font=small, anchor="lm")
            tile = Image.fromarray(np.ascontiguousarray(image)).convert("RGB")
            if tile.size != (tile_w, tile_h):
                tile = tile.resize((tile_w, tile_h), Image.Resampling.LANCZOS)
            sheet.paste(tile, (x, y + _LABEL_BAND))
    return np.asarray(sheet)


def degradation_sheet(sequence: FrameSequence, degradations: Degradations, seed: int = 0, frame: int = 8) -> np.ndarray:
    """One frame of ``sequence`` (its ``frame``-th, or its last) as a contact sheet: the clean grey, the
    grey under each active degradation alone, and under all of them (as ``dvcp eval --degrade`` gives it)."""
    frames = sequence.frames[: frame + 1]
    greys = [frame_planes(load_frame(path))[0] for path in frames]
    own_seed = sequence_seed(sequence.name, seed)
    shown = [("clean", greys[-1])]
    alone = [name for name in NAMES if getattr(degradations, name) > 0]
    for name in alone:
        single = Degradations(**{name: getattr(degradations, name)})
        shown.append((f"{name} {getattr(degradations, name):g}", degrade(greys, single, own_seed).greys[-1]))
    if len(alone) > 1:
        shown.append(("all of them", degrade(greys, degradations, own_seed).greys[-1]))
    tiles = [(label, (grey.numpy() * 255).round().clip(0, 255).astype(np.uint8)) for label, grey in shown]
    columns = 4
    rows = [tiles[i : i + columns] for i in range(0, len(tiles), columns)]
    return contact_sheet(rows, f"{sequence.name}, frame {len(frames) - 1}: scan-like degradations (seed {seed})")
