"""Freed CPU memory handed back to the system.

glibc's ``malloc`` keeps the memory of freed blocks below its mmap threshold (which grows to
32 MiB) in its heaps for later blocks, and the resident set grows with what it keeps: a
VarNet training step at fastMRI's size, all checkpointed, peaked at 4.2-4.7 GiB above the
start while its live tensors never held more than 1.3 GiB. ``release_freed_memory`` asks glibc
to give whole free pages back (``malloc_trim``). The VarNet calls it before each checkpointed
block's forward pass (docs/benchmarks.md, "VarNet memory"). Where the C library is not glibc it
does nothing.
"""

import ctypes
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or ``None`` where the C library has none."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return getattr(libc, "malloc_trim", None)


def release_freed_memory() -> bool:
    """Gives the C library's free pages back to the system; ``True`` when some were."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
