"""Freed CPU memory handed back to the system (glibc's malloc_trim), measured on the resident
set of a new process (one whose allocator has no history of other tests' blocks)."""

import subprocess
import sys

SCRIPT = """
import torch
from mri_recon.allocator import release_freed_memory
from mri_recon.benchmark.varnet import rss_bytes

MIB = 1024 * 1024
big = torch.ones(8 * MIB // 4)
del big  # a freed mmapped block of 8 MiB: glibc now serves blocks up to that size from its heap
blocks, live = [], []
for _ in range(200):
    blocks.append(torch.ones(MIB // 4))
    live.append(torch.ones(16 * 1024))
allocated = rss_bytes()
del blocks
kept = rss_bytes()
released = release_freed_memory()
print((allocated - kept) // MIB, (kept - rss_bytes()) // MIB, released)
"""


def test_freed_blocks_between_live_ones_go_back_to_the_system() -> None:
    """200 blocks of 1 MiB, each followed by a live 64 KiB one: freed, glibc keeps them as
    holes in its heap (the resident set stays); released, the resident set falls by about
    their size."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    on_free, on_release, released = result.stdout.split()
    assert int(on_free) < 50 and int(on_release) > 150 and released == "True"
