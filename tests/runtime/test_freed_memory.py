"""Freed memory goes back to the system every so many steps of a streamed shot."""

from __future__ import annotations

import ctypes

import pytest

from dvcp_plugin.runtime.freed_memory import FreedMemory


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def test_trims_on_every_nth_step_only():
    freed = FreedMemory(every=3)
    assert [freed.step_done() for _ in range(7)] == [False, False, True, False, False, True, False]


def test_a_trim_returns_what_malloc_kept():
    """Blocks freed between kept ones stay in malloc's heap until trimmed (independent measure: RSS)."""
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "malloc_trim"):
        pytest.skip("not glibc: nothing to trim")
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    blocks = [libc.malloc(64 * 1024 - 64) for _ in range(2000)]  # 125 MiB under the mmap threshold
    for block in blocks:
        ctypes.memset(block, 1, 64 * 1024 - 64)
    kept = blocks[49::50]  # every 50th stays, the last among them: the heap's top cannot shrink past it
    for block in blocks:
        if block not in kept:
            libc.free(block)
    before = _rss_mib()
    freed = FreedMemory(every=1)
    assert freed.step_done()
    assert before - _rss_mib() > 60
    for block in kept:
        libc.free(block)
