"""Process-level settings applied once at start-up."""

from __future__ import annotations

import ctypes
import ctypes.util

_M_TOP_PAD = -2


def set_malloc_top_pad(n_bytes: int) -> bool:
    """Ask glibc to keep `n_bytes` of heap headroom instead of returning it to the OS.

    Training allocates and frees the same large activation buffers every step; with
    glibc's defaults each step pays for fresh pages (measured: the CNN step on 2 CPU
    cores ran 1.3–2.4x faster with 1 GiB). Returns False where the C library is not glibc.
    """
    if n_bytes <= 0:
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(_M_TOP_PAD, ctypes.c_int(min(n_bytes, 2**31 - 1))))
    except (OSError, AttributeError, TypeError):
        return False
