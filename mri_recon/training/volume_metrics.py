"""Per-volume validation metrics, fastMRI's way, in constant memory and correct under DDP.

Each validation slice is reduced at once to what its volume's metrics need, as fastMRI's own
Lightning module does: the squared error, the target's energy, the pixel count and the slice's
SSIM (data range = the volume's ``max`` attribute). At epoch end each volume gets
NMSE = sum of squared errors / sum of target energies, PSNR = 10 log10(max^2 / MSE) over the whole
volume and SSIM = mean of its slices' SSIM: the same numbers ``mri_recon.metrics.volume_metrics``
gives on the stacked volume, without keeping any image. The reported value is the mean over
volumes. Under DDP ``VolumeSampler`` keeps each volume on one process; processes exchange only
their per-volume scores, and a volume seen by two processes is an error rather than a silently
double-counted score.
"""

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from mri_recon.metrics import ssim

METRIC_NAMES = ("nmse", "psnr", "ssim")


@dataclass(frozen=True)
class SliceStats:
    """What one slice contributes to its volume's NMSE, PSNR and SSIM."""

    squared_error: float
    target_energy: float
    pixels: int
    ssim: float
    target_max: float


def slice_stats(output: np.ndarray, target: np.ndarray, maxval: float) -> SliceStats:
    """The statistics of one (H, W) slice; ``maxval`` is the data range of its SSIM."""
    return SliceStats(
        squared_error=float(np.sum((target - output) ** 2, dtype=np.float64)),  # as skimage
        target_energy=float(np.sum(np.square(target, dtype=np.float64))),
        pixels=target.size,
        ssim=ssim(target[None], output[None], maxval=maxval),
        target_max=float(target.max()),
    )


def volume_scores(slices: list[SliceStats], maxval: float) -> dict[str, float]:
    """NMSE, PSNR (data range ``maxval``) and SSIM of a volume from its slices' statistics."""
    squared_error = sum(s.squared_error for s in slices)
    mse = squared_error / sum(s.pixels for s in slices)
    return {
        "nmse": squared_error / sum(s.target_energy for s in slices),
        "psnr": 10 * math.log10(maxval**2 / mse) if mse > 0 else math.inf,
        "ssim": float(np.mean([s.ssim for s in slices])),
    }


def merge_scores(per_process: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """One mapping of volume -> scores from every process's; a volume twice is an error."""
    merged: dict[str, dict[str, float]] = {}
    for scores in per_process:
        for fname, values in scores.items():
            if fname in merged:
                raise RuntimeError(
                    f"validation volume {fname} was split across processes; "
                    "use a volume-aware sampler (FastMriDataModule does under DDP)"
                )
            merged[fname] = values
    return merged


def _all_gather(scores: dict[str, dict[str, float]]) -> list[dict[str, dict[str, float]]]:
    """Every process's per-volume scores (just ours outside DDP)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return [scores]
    gathered: list = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(gathered, scores)
    return gathered


class VolumeMetrics:
    """Collects one epoch's per-slice statistics per volume and scores each volume at the end.

    Usage: ``update`` after each validation batch, ``compute`` at epoch end (every process must
    call it under DDP), then ``reset``. Volumes whose file has no ``max`` attribute (passed as 0)
    use each slice's target maximum for SSIM and the volume's for PSNR.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forgets the collected statistics."""
        self.slices: dict[str, dict[int, SliceStats]] = defaultdict(dict)
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
            maxval = float(max_values[i])
            stats = slice_stats(outputs[i], targets[i], maxval or float(targets[i].max()))
            self.slices[fname][int(slice_nums[i])] = stats
            self.max_values[fname] = maxval

    def volume_scores(self) -> dict[str, dict[str, float]]:
        """NMSE, PSNR and SSIM of each volume this process holds."""
        scores = {}
        for fname, slices in self.slices.items():
            stats = list(slices.values())
            maxval = self.max_values[fname] or max(s.target_max for s in stats)
            scores[fname] = volume_scores(stats, maxval)
        return scores

    def compute(self) -> dict[str, float]:
        """The mean of each metric over all volumes of all processes, plus the volume count.

        Raises:
            RuntimeError: a volume's slices were split across processes.
        """
        merged = merge_scores(_all_gather(self.volume_scores()))
        if not merged:
            return {}
        result = {name: float(np.mean([v[name] for v in merged.values()])) for name in METRIC_NAMES}
        result["volumes"] = float(len(merged))
        return result
