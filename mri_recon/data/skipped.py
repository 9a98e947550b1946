"""Which slices a dataset skipped for bad data, across DataLoader worker processes.

A dataset that skips bad slices (``SliceDataset(skip_bad_files=True)``) runs in DataLoader
workers, whose attributes the main process never sees. ``SkippedSlices`` keeps one flag per slice
of the dataset's index in a shared-memory tensor that workers inherit (fork) or receive as shared
memory (spawn): a slice skipped in any process, once or every epoch, is one flag, so the main
process can name each distinct slice after an epoch, for the run's summary.
"""

from collections.abc import Iterable
from pathlib import Path

import torch


class SkippedSlices:
    """The slices of a dataset skipped so far, in this process and its DataLoader workers.

    Args:
        samples: ``(file, slice)`` of every slice the dataset indexes, in index order.
    """

    def __init__(self, samples: Iterable[tuple[Path, int]]) -> None:
        self.samples = list(samples)
        self.ids = {sample: i for i, sample in enumerate(self.samples)}
        self.flags = torch.zeros(len(self.samples), dtype=torch.uint8).share_memory_()

    def add(self, file: Path, slice_num: int) -> None:
        """Records that slice ``slice_num`` of ``file`` was skipped (once or again)."""
        self.flags[self.ids[(file, slice_num)]] = 1

    def skipped(self, flags: torch.Tensor | None = None) -> list[tuple[Path, int]]:
        """The distinct ``(file, slice)`` skipped, in index order; ``flags`` (e.g. summed over
        DDP processes) instead of this process's own."""
        flags = self.flags if flags is None else flags
        return [self.samples[i] for i in flags.nonzero().flatten().tolist()]

    def total(self) -> int:
        """How many distinct slices were skipped by every process sharing these flags."""
        return int(self.flags.sum())
