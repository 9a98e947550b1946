"""The mean of a loss over an epoch and over every DDP process, without a sync per step.

Lightning's epoch-level logging averages within one process unless ``sync_dist=True``, which syncs
every step it logs, and it calls no collective at all on a process whose loader was empty, so the
other processes wait forever. ``LossMean`` adds up the loss on the device as batches come, and
``compute`` (called by every process at epoch end) takes one ``all_reduce`` of (sum, count): the
mean over all slices of all processes, the same number one process would log.
"""

import torch
from torch import Tensor


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


class LossMean:
    """Accumulates ``loss * batch_size`` and ``batch_size``; ``compute`` gives the global mean."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forgets the accumulated batches."""
        self.total: Tensor | None = None

    def update(self, loss: Tensor, batch_size: int) -> None:
        """Adds one batch's mean loss."""
        value = torch.stack([loss.detach().float() * batch_size, loss.new_tensor(batch_size)])
        self.total = value if self.total is None else self.total + value.to(self.total)

    def compute(self, device: torch.device) -> float | None:
        """The mean over every batch of every process (``None`` when none had a batch); under
        DDP every process must call it."""
        total = self.total if self.total is not None else torch.zeros(2, device=device)
        total = total.to(device=device, dtype=torch.float64)
        if _distributed():
            torch.distributed.all_reduce(total)
        return float(total[0] / total[1]) if total[1] > 0 else None
