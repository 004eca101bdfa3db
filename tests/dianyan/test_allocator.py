"""The allocator tuning: freed batch-sized arrays stay in the process for the next batch."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

# Frees a 64 MB array (like the baseline's day-history temporaries) and reports how many
# bytes the C heap keeps free for reuse afterwards (glibc's mallinfo2().fordblks).
SCRIPT = textwrap.dedent(
    """
    import ctypes
    import numpy as np
    from dianyan.allocator import tune_allocator

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    tuned = tune_allocator()
    a = np.ones(8_000_000)
    del a
    print(tuned, libc.mallinfo2().fordblks)
    """
)


def _run(tuning: str) -> tuple[bool, int]:
    env = {**os.environ, "DIANYAN_MALLOC_TUNING": tuning}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_batch_memory_is_kept_for_reuse_unless_tuning_is_switched_off() -> None:
    tuned, kept = _run("1")
    untuned, kept_untuned = _run("0")
    assert tuned and not untuned
    assert kept >= 64_000_000  # the freed array is still ours, no page to fault in again
    assert kept_untuned < 64_000_000  # handed back to the kernel (munmap)
