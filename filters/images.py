"""Reading and writing still images (PNG, TIFF, JPEG; 8 or 16 bit; grey or colour) as numpy arrays.

Arrays are ``uint8`` or ``uint16``, shaped (H, W) for grey or (H, W, 3) in RGB order. An image is
read whole or not at all: a file that is cut short or damaged is an :class:`ImageError` naming it,
and so is a JPEG on which the decoder has any warning (libjpeg's "Corrupt JPEG data: ..." would
otherwise give a frame with grey or garbled blocks and a line on stderr).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import simplejpeg
from PIL import Image, UnidentifiedImageError

from dvcp_plugin.errors import DvcpError

from .files import write_all

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_GREY_TYPES = (0, 4)  # IHDR colour types: grey, grey with alpha
_JPEG_SIGNATURE = b"\xff\xd8\xff"


class ImageError(DvcpError):
    """An image that cannot be read or written; the message names the file."""


def _png_header(head: bytes) -> tuple[tuple[int, int], bool] | None:
    """(width, height) and whether it is in colour, from the first 26 bytes of a PNG; None for others.

    A grey PNG with alpha is grey: decoders expand it to RGBA with R = G = B.
    """
    if len(head) < 26 or not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return (width, height), head[25] not in _PNG_GREY_TYPES


def read_header(path: str | os.PathLike[str]) -> tuple[tuple[int, int], bool]:
    """(width, height) and whether the image is in colour, from the file's header where it can be."""
    try:
        with open(path, "rb") as handle:
            png = _png_header(handle.read(26))
    except OSError as exc:
        raise ImageError(f"cannot read image file {path}: {exc.strerror or exc}") from None
    if png is not None:
        return png
    try:
        with Image.open(path) as image:
            return image.size, image.mode == "P" or len(image.getbands()) >= 3
    except (UnidentifiedImageError, OSError):
        array = read_image(path)  # PIL lacks some TIFF layouts; OpenCV reads them whole
        return (array.shape[1], array.shape[0]), array.ndim == 3


def unreadable(path: Path) -> str | None:
    """Why ``path`` cannot be read as an image file ("... is a folder"), or None when it can be opened."""
    if path.is_symlink() and not path.exists():
        return f"{path} is a link to {os.readlink(path)}, which does not exist"
    if not path.exists():
        return f"image file {path} does not exist"
    if path.is_dir():
        return f"{path} is a folder, not an image file"
    if not path.is_file():
        return f"{path} is not a regular file"
    if not os.access(path, os.R_OK):
        return f"cannot read image file {path}: permission denied"
    return None


def _decode_jpeg(data: np.ndarray, path: Path) -> np.ndarray:
    """A JPEG decoded in full, (H,W) grey or (H,W,3) RGB; any decoder warning is an :class:`ImageError`.

    The samples are those OpenCV's decoder gives (both are libjpeg-turbo with its default, exact
    DCT and smooth chroma upsampling); CMYK is checked here and converted as OpenCV converts it.
    """
    try:
        colorspace = simplejpeg.decode_jpeg_header(data)[2]
        if colorspace == "Gray":
            return simplejpeg.decode_jpeg(data, colorspace="GRAY")[:, :, 0]
        if colorspace not in ("CMYK", "YCCK"):
            return simplejpeg.decode_jpeg(data, colorspace="RGB")
        simplejpeg.decode_jpeg(data, colorspace="CMYK")
    except ValueError as exc:
        raise ImageError(f"cannot read image file {path}: its JPEG data is damaged ({exc})") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise ImageError(f"cannot read image file {path}: not a readable PNG, TIFF or JPEG")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as uint8/uint16, (H,W) grey or (H,W,3) RGB; alpha is dropped.

    A grey PNG with alpha is read as grey, not as the RGB with equal channels that decoders give.
    """
    path = Path(path)
    problem = unreadable(path)
    if problem is not None:
        raise ImageError(problem)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise ImageError(f"cannot read image file {path}: {exc.strerror or exc}") from None
    if data[:3].tobytes() == _JPEG_SIGNATURE:
        return np.ascontiguousarray(_decode_jpeg(data, path))
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise ImageError(f"cannot read image file {path}: not a readable PNG, TIFF or JPEG")
    if image.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"image file {path} has {image.dtype} samples; only 8 or 16 bit are read")
    if image.ndim == 3:
        png = _png_header(data[:26].tobytes())
        if image.shape[2] == 1 or (png is not None and not png[1]):
            return np.ascontiguousarray(image[:, :, 0])
        image = cv2.cvtColor(image[:, :, :3], cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(image)


def encode_image(image: np.ndarray, suffix: str, what: str = "an image") -> bytes:
    """A uint8/uint16 (H,W) or (H,W,3) RGB array encoded as the image type of ``suffix``."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    suffix = suffix.lower()
    if suffix in (".jpg", ".jpeg") and image.dtype != np.uint8:
        raise ImageError(f"cannot write {what}: JPEG holds 8-bit samples only")
    ok, encoded = cv2.imencode(suffix if suffix != ".tif" else ".tiff", image)
    if not ok:
        raise ImageError(f"cannot encode {what} as {suffix}")
    return encoded.tobytes()


def write_image(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Write a uint8/uint16 (H,W) or (H,W,3) RGB array; the format follows the suffix.

    The file is complete and synced to disk when this returns; a short write (a full disk) is an
    :class:`ImageError`, and the incomplete file is removed.
    """
    path = Path(path)
    data = encode_image(image, path.suffix, str(path))
    try:
        write_all(path, data)
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise ImageError(f"cannot write {path}: {exc.strerror or exc}") from None
