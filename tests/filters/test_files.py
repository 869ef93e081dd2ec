"""Files are written whole or not at all: short writes and full disks never leave a truncated file."""

from __future__ import annotations

import os

import numpy as np
import pytest

from dvcp_plugin.filters import files
from dvcp_plugin.filters.files import file_digest, write_all
from dvcp_plugin.filters.images import ImageError, read_image, write_image

DATA = bytes(range(256)) * 4000  # 1 MB


def _noise(height: int = 300, width: int = 400) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_partial_writes_are_continued_until_every_byte_is_written(tmp_path, monkeypatch):
    real_write = os.write
    monkeypatch.setattr(files.os, "write", lambda fd, data: real_write(fd, data[:1000]))
    write_all(tmp_path / "f.bin", DATA)
    assert (tmp_path / "f.bin").read_bytes() == DATA


def test_a_write_that_makes_no_progress_is_an_error(tmp_path, monkeypatch):
    real_write = os.write
    calls = []

    def stalls(fd, data):
        calls.append(len(data))
        return real_write(fd, data[:4096]) if len(calls) == 1 else 0  # the disk fills after 4096 bytes

    monkeypatch.setattr(files.os, "write", stalls)
    with pytest.raises(OSError, match="short write"):
        write_all(tmp_path / "f.bin", DATA)


def test_a_file_shorter_than_what_was_written_is_an_error(tmp_path, monkeypatch):
    real_write = os.write
    # a writer that reports every byte as written but stores only half of each block
    monkeypatch.setattr(files.os, "write", lambda fd, data: real_write(fd, data[: len(data) // 2]) * 2)
    with pytest.raises(OSError, match="holds 512000 bytes, 1024000 were written"):
        write_all(tmp_path / "f.bin", DATA)


def test_write_image_removes_the_file_of_a_short_write(tmp_path, monkeypatch):
    monkeypatch.setattr(files.os, "write", lambda fd, data: 0)
    with pytest.raises(ImageError, match=r"cannot write .*f\.png: short write"):
        write_image(tmp_path / "f.png", _noise())
    assert not (tmp_path / "f.png").exists()


def test_full_disk_leaves_no_truncated_image(small_disk):
    disk = small_disk(64 * 1024)
    image = _noise()  # about 360 kB as PNG: more than the disk holds
    with pytest.raises(ImageError, match="No space left on device"):
        write_image(disk / "f1.png", image)
    assert not (disk / "f1.png").exists()
    small = image[:40, :40].copy()
    write_image(disk / "f2.png", small)  # what fits is written whole
    assert np.array_equal(read_image(disk / "f2.png"), small)


def test_file_digest_is_the_sha256_of_the_content(tmp_path):
    import hashlib

    (tmp_path / "f.bin").write_bytes(DATA)
    assert file_digest(tmp_path / "f.bin") == hashlib.sha256(DATA).hexdigest()
