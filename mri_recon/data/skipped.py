"""Counting slices skipped for bad data across DataLoader worker processes.

A dataset that skips bad slices (``SliceDataset(skip_bad_files=True)``) runs in DataLoader
workers, whose attributes the main process never sees. ``SkipCounter`` keeps its count in a
shared-memory tensor that workers inherit (fork) or receive as shared memory (spawn), with one
slot per worker so that no two processes ever write the same number: the main process reads the
total after an epoch, for the run's summary.
"""

import torch
from torch.utils.data import get_worker_info

SLOTS = 64  # slot 0: the main process; worker i writes slot 1 + i % (SLOTS - 1)


class SkipCounter:
    """How many slices a dataset skipped, in this process and its DataLoader workers."""

    def __init__(self) -> None:
        self.counts = torch.zeros(SLOTS, dtype=torch.int64).share_memory_()

    def add(self) -> None:
        """Counts one skipped slice in the calling process's slot."""
        worker = get_worker_info()
        self.counts[0 if worker is None else 1 + worker.id % (SLOTS - 1)] += 1

    def total(self) -> int:
        """The slices skipped so far by every process that shares this counter."""
        return int(self.counts.sum())
