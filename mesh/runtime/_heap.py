"""Giving the C heap's free memory back to the system after a burst (ADR 037).

Starting thousands of tasks at once encodes and produces their records while the
others arrive; the buffers this takes are freed once the broker has them, but glibc
keeps the free memory in its heap, in holes among the long-lived allocations, and
only trims the top. Measured with 10,000 waiting tasks in one `mesh run` worker:
20 MB of the heap free (2 KB per task) and still resident. `malloc_trim(0)` hands
the free pages anywhere in the heap back (the heap stays usable as it was). It walks
the heap, so it runs only when much is free: checked with each heartbeat. Elsewhere
than on glibc (musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

log = logging.getLogger(__name__)

TRIM_ABOVE = 8 * 1024 * 1024  # bytes free in the C heap before it is trimmed


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallinfo2.restype = _MallInfo2  # glibc >= 2.33
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return libc


def free_heap_bytes() -> int:
    """Bytes free in the C heap and still the process's (0 when not on glibc)."""
    libc = _glibc()
    return 0 if libc is None else int(libc.mallinfo2().fordblks)


def release_free_heap(above: int = TRIM_ABOVE) -> int:
    """Give the heap's free pages back when over `above` bytes are free; returns the
    bytes that were free (0: nothing done)."""
    free = free_heap_bytes()
    libc = _glibc()
    if libc is None or free <= above:
        return 0
    libc.malloc_trim(0)
    log.debug("trimmed the C heap: %d bytes were free", free)
    return free
