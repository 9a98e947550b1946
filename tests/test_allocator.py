"""Freed CPU memory handed back to the system (glibc's malloc_trim), measured on this process's
resident set."""

import torch

from mri_recon.allocator import release_freed_memory
from mri_recon.benchmark.varnet import rss_bytes

MIB = 1024 * 1024


def test_freed_blocks_between_live_ones_go_back_to_the_system() -> None:
    """200 blocks of 1 MiB, each followed by a live 64 KiB one: freed, they are holes glibc
    keeps (no free space at the heap's top to trim); released, the resident set falls by
    about their size."""
    big = torch.ones(8 * MIB // 4)
    del big  # a freed mmapped block of 8 MiB: glibc serves blocks up to that size from its heap
    blocks, live = [], []
    for _ in range(200):
        blocks.append(torch.ones(MIB // 4))
        live.append(torch.ones(16 * 1024))
    del blocks
    kept = rss_bytes()
    assert release_freed_memory()
    assert kept - rss_bytes() > 150 * MIB
    assert len(live) == 200
