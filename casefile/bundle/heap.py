"""The exporting process's heap kept rather than handed back to the system between chunks.

A bundle streams every original through 1 MiB chunks: each decrypted chunk is a new bytes
object, freed once it is hashed and written. glibc's malloc hands such memory back to the
system as soon as the top of its heap holds more than twice its mmap threshold free (and
maps chunks above that threshold afresh each time), so every chunk's pages are faulted in
and zeroed again: ~1 s of the exporting process's system time for 2 GiB, more on VMs whose
balloon returns freed pages to the host (bench/README.md, "Court bundles"). Raising the trim
threshold and the mmap threshold keeps those pages for the next chunk; the process's peak
does not grow (what it holds at once is unchanged, ~AHEAD chunks per lane), it only stops
returning and re-faulting the same pages. glibc only (mallopt); elsewhere nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest on 64-bit (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 256 << 20
TOP_PAD = 16 << 20


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed chunks for reuse (see above); whether it took."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (musl has no mallopt)
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return all(
        mallopt(parameter, value) == 1
        for parameter, value in (
            (M_MMAP_THRESHOLD, MMAP_THRESHOLD),
            (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
            (M_TOP_PAD, TOP_PAD),
        )
    )
