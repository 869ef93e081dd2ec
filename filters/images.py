"""Reading and writing still images (PNG, TIFF, JPEG; 8 or 16 bit; grey or colour) as numpy arrays.

Arrays are ``uint8`` or ``uint16``, shaped (H, W) for grey or (H, W, 3) in RGB order.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from .files import write_all

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")


class ImageError(OSError):
    """An image that cannot be read or written; the message names the file."""


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as uint8/uint16, (H,W) grey or (H,W,3) RGB; alpha is dropped."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"image file {path} does not exist")
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise ImageError(f"cannot read image file {path}: not a readable PNG, TIFF or JPEG")
    if image.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"image file {path} has {image.dtype} samples; only 8 or 16 bit are read")
    if image.ndim == 3:
        if image.shape[2] == 1:
            return image[:, :, 0]
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
