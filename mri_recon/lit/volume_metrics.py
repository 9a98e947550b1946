"""Per-volume validation metrics, fastMRI's way, correct under DDP.

Validation slices are collected per volume (un-normalised outputs and targets), each volume is
scored once its epoch is over (NMSE and PSNR on the volume, SSIM per slice then averaged, data
range = the volume's ``max`` attribute), and the reported value is the mean over volumes. Under
DDP ``VolumeSampler`` keeps each volume on one process; processes exchange only their per-volume
scores, and a volume seen by two processes is an error rather than a silently double-counted score.
"""

from collections import defaultdict

import numpy as np
import torch
from torch import Tensor

from mri_recon.metrics import volume_metrics

METRIC_NAMES = ("nmse", "psnr", "ssim")


def _all_gather(scores: dict[str, dict[str, float]]) -> list[dict[str, dict[str, float]]]:
    """Every process's per-volume scores (just ours outside DDP)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return [scores]
    gathered: list = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(gathered, scores)
    return gathered


class VolumeMetrics:
    """Collects one epoch's slices per volume and scores each volume at the end.

    Usage: ``update`` after each validation batch, ``compute`` at epoch end (every process must
    call it under DDP), then ``reset``.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forgets the collected slices."""
        self.slices: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] = defaultdict(dict)
        self.max_values: dict[str, float] = {}

    def update(
        self,
        fnames: list[str],
        slice_nums: Tensor,
        outputs: Tensor,
        targets: Tensor,
        max_values: Tensor,
    ) -> None:
        """Adds a batch of un-normalised reconstructions and targets, (batch, height, width)."""
        outputs = outputs.detach().float().cpu().numpy()
        targets = targets.detach().float().cpu().numpy()
        for i, fname in enumerate(fnames):
            self.slices[fname][int(slice_nums[i])] = (outputs[i], targets[i])
            self.max_values[fname] = float(max_values[i])

    def volume_scores(self) -> dict[str, dict[str, float]]:
        """NMSE, PSNR and SSIM of each volume this process holds."""
        scores = {}
        for fname, slices in self.slices.items():
            order = sorted(slices)
            output = np.stack([slices[s][0] for s in order])
            target = np.stack([slices[s][1] for s in order])
            maxval = self.max_values[fname] or None  # 0 means the file had no 'max' attribute
            scores[fname] = volume_metrics(target, output, maxval=maxval)
        return scores

    def compute(self) -> dict[str, float]:
        """The mean of each metric over all volumes of all processes, plus the volume count.

        Raises:
            RuntimeError: a volume's slices were split across processes.
        """
        merged: dict[str, dict[str, float]] = {}
        for scores in _all_gather(self.volume_scores()):
            for fname, values in scores.items():
                if fname in merged:
                    raise RuntimeError(
                        f"validation volume {fname} was split across processes; "
                        "use a volume-aware sampler (FastMriDataModule does under DDP)"
                    )
                merged[fname] = values
        if not merged:
            return {}
        result = {name: float(np.mean([v[name] for v in merged.values()])) for name in METRIC_NAMES}
        result["volumes"] = float(len(merged))
        return result
