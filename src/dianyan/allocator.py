"""Keep freed batch memory in the process instead of handing it back to the kernel.

A batch of a million readings makes dozens of numpy temporaries of 4-8 MB each. glibc
serves blocks that large with ``mmap`` and returns them with ``munmap`` (or trims the heap
top) as soon as they are freed, so the next batch faults every page in again: on a
virtual machine that was about a fifth of the replay's CPU time, in page faults. Raising
glibc's mmap and trim thresholds makes those blocks come from the heap and stay there for
the next batch; resident memory stays at the high-water mark of one batch, which a
stream processor reaches anyway.

``DIANYAN_MALLOC_TUNING=0`` leaves the allocator alone. On a C library without
``mallopt`` (musl, macOS) nothing happens.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger(__name__)

#: glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: Blocks up to this size come from the heap; freed heap top up to this size is kept.
THRESHOLD_BYTES = 1 << 30

_tuned: bool | None = None


def tune_allocator() -> bool:
    """Raise glibc's mmap and trim thresholds once per process; True if they are set."""
    global _tuned
    if _tuned is not None:
        return _tuned
    _tuned = False
    if os.environ.get("DIANYAN_MALLOC_TUNING", "1") == "0":
        return False
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        return False
    # both or neither: a trim threshold alone turns off glibc's adaptive mmap threshold
    _tuned = bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, THRESHOLD_BYTES)
    )
    if not _tuned:
        log.info("allocator thresholds not set (mallopt refused)")
    return _tuned
