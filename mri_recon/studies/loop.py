"""A plain training loop with an exact budget of gradient evaluations, and its evaluation.

The budget counts slice gradients: a minibatch step on ``b`` slices spends ``b``, a full-batch
gradient-descent step spends the whole training set. Runs with the same budget have done the
same work whatever their batch size, which is what makes full-batch and minibatch methods
comparable. The full-batch gradient is accumulated over chunks of ``batch_size`` slices (the
same memory as a minibatch step) and equals the gradient of the mean loss over all slices.

A run stops early, marked diverged, when its loss turns non-finite or exceeds
``DIVERGENCE_FACTOR`` times its first loss; its final scores are then ``None``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from mri_recon.metrics import volume_metrics
from mri_recon.models import Unet
from mri_recon.studies.data import Slices, StudyData

DIVERGENCE_FACTOR = 10.0


@dataclass(frozen=True)
class RunSettings:
    """How one training run spends its budget.

    Attributes:
        budget: slice gradients to spend (a multiple of the training set is a number of epochs).
        batch_size: slices per minibatch step, and per chunk of a full-batch step.
        full_batch: take gradient-descent steps on the whole training set.
        normalized: train on normalised images (the usual); ``False`` uses raw magnitudes.
        seed: seeds the order of the minibatches.
        val_points: validation scores recorded during training (besides the final one).
    """

    budget: int
    batch_size: int
    full_batch: bool = False
    normalized: bool = True
    seed: int = 0
    val_points: int = 0


@dataclass
class RunRecord:
    """What one training run did, step by step, and how it scored.

    Attributes:
        samples: slice gradients spent after each step.
        loss: the objective on each step's batch (the whole set for full-batch steps).
        l1: each step's L1 on normalised images (equals ``loss`` for normalised runs).
        grad_norm: the gradient's Euclidean norm over all parameters at each step.
        wall_s: seconds since the start after each step.
        diverged: the run stopped because its loss blew up.
        train_loss: the objective over the whole training set at the end (eval mode).
        val: validation NMSE, PSNR, SSIM (means over volumes) and L1 at the end.
        val_curve: ``(samples, val scores)`` recorded during training.
    """

    samples: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    l1: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    diverged: bool = False
    train_loss: float | None = None
    val: dict[str, float] | None = None
    val_curve: list[tuple[int, dict[str, float]]] = field(default_factory=list)

    def per_epoch(self, values: list[float], size: int) -> tuple[list[int], list[float]]:
        """Mean of per-step ``values`` over each epoch's worth of slice gradients.

        Minibatch losses are noisy and a full-batch step is one point per epoch, so curves are
        compared on this common footing: epoch ``e`` holds the steps that spent its gradients.

        Args:
            values: one value per step (``loss``, ``l1``, ``grad_norm``).
            size: slices in the training set.

        Returns:
            ``(epochs, means)``, epochs counted from 1 at the end of each.
        """
        epochs = (np.asarray(self.samples) - 1) // size
        done = sorted(set(epochs.tolist()))
        means = [float(np.mean(np.asarray(values)[epochs == e])) for e in done]
        return [e + 1 for e in done], means

    def summary(self) -> dict[str, Any]:
        """The run's final numbers.

        Returns:
            Steps, slice gradients, training seconds, divergence and the final scores.
        """
        return {
            "steps": len(self.loss),
            "samples": self.samples[-1] if self.samples else 0,
            "wall_s": round(self.wall_s[-1], 2) if self.wall_s else 0.0,
            "diverged": self.diverged,
            "train_loss": self.train_loss,
            **{f"val_{k}": v for k, v in (self.val or {}).items()},
        }


def make_unet(
    chans: int, num_pool_layers: int, norm: str = "instance", seed: int = 0, num_groups: int = 4
) -> Unet:
    """The study's U-Net, from the project's own convolutions and norms, seeded.

    Args:
        chans: channels of the first level.
        num_pool_layers: the depth.
        norm: the normalization layer (``Unet``'s ``norm``).
        seed: seeds the initial weights (same seed, same weights).
        num_groups: groups of ``norm="group"``.

    Returns:
        ``Unet(1, 1, ...)`` with ``conv_impl`` and ``norm_impl`` ``"scratch"``.
    """
    torch.manual_seed(seed)
    return Unet(
        1, 1, chans=chans, num_pool_layers=num_pool_layers, norm=norm, num_groups=num_groups,
        conv_impl="scratch", norm_impl="scratch",
    )  # fmt: skip


def batch_loss(net: nn.Module, slices: Slices, index: Tensor, normalized: bool) -> tuple:
    """The summed L1 objective of some slices, and their summed L1 on normalised images.

    Args:
        net: the network.
        slices: the slices.
        index: which of them.
        normalized: the run's input normalization (the objective's units).

    Returns:
        ``(objective sum, normalised L1 sum, pixel count)``; the sums carry gradients.
    """
    x, y = slices.pair(index, normalized)
    error = (net(x) - y).abs()
    l1 = error if normalized else error / slices.stds[index][:, None, None, None]
    return error.sum(), l1.sum(), error.numel()


def _step_batches(n: int, settings: RunSettings, gen: torch.Generator):
    """Endless index batches: the whole set each step (full batch) or shuffled minibatches."""
    while True:
        order = torch.arange(n) if settings.full_batch else torch.randperm(n, generator=gen)
        if settings.full_batch:
            yield order
            continue
        yield from order.split(settings.batch_size)


def train_run(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: StudyData,
    settings: RunSettings,
    desc: str = "training",
) -> RunRecord:
    """Trains ``net`` with ``optimizer`` until the budget is spent, then scores it.

    Args:
        net: the network, (n, 1, H, W) -> (n, 1, H, W), freshly built by the caller.
        optimizer: the optimizer over ``net``'s parameters.
        data: training and validation slices.
        settings: budget, batches and inputs.
        desc: the progress bar's label.

    Returns:
        The run's record.
    """
    record = RunRecord()
    gen = torch.Generator().manual_seed(settings.seed)
    n, spent, start = len(data.train), 0, time.perf_counter()
    val_marks = [
        settings.budget * (i + 1) // (settings.val_points + 1) for i in range(settings.val_points)
    ]
    batches = _step_batches(n, settings, gen)
    bar = tqdm(total=settings.budget, desc=desc, unit="slice", leave=False)
    while spent < settings.budget:
        index = next(batches)
        net.train()
        optimizer.zero_grad()
        objective = l1 = 0.0
        for chunk in index.split(settings.batch_size):
            loss_sum, l1_sum, pixels = batch_loss(net, data.train, chunk, settings.normalized)
            per_pixel = pixels * len(index) / len(chunk)
            (loss_sum / per_pixel).backward()
            objective += loss_sum.item() / per_pixel
            l1 += l1_sum.item() / per_pixel
        grads = [p.grad.norm() for p in net.parameters() if p.grad is not None]
        record.grad_norm.append(float(torch.stack(grads).norm()))
        optimizer.step()
        spent += len(index)
        bar.update(len(index))
        record.samples.append(spent)
        record.loss.append(objective)
        record.l1.append(l1)
        record.wall_s.append(time.perf_counter() - start)
        if not math.isfinite(objective) or objective > DIVERGENCE_FACTOR * record.loss[0]:
            record.diverged = True
            break
        while val_marks and spent >= val_marks[0]:
            record.val_curve.append((val_marks.pop(0), validate(net, data.val, settings)))
    bar.close()
    if not record.diverged:
        record.train_loss = full_loss(net, data.train, settings)
        record.val = validate(net, data.val, settings)
    return record


@torch.no_grad()
def _outputs(net: nn.Module, slices: Slices, settings: RunSettings) -> Tensor:
    """The network's raw-scale reconstructions of all ``slices``, (N, H, W), in eval mode."""
    net.eval()
    outputs = []
    for index in torch.arange(len(slices)).split(settings.batch_size):
        x, _ = slices.pair(index, settings.normalized)
        out = net(x)[:, 0]
        if settings.normalized:
            out = out * slices.stds[index][:, None, None] + slices.means[index][:, None, None]
        outputs.append(out)
    return torch.cat(outputs)


@torch.no_grad()
def full_loss(net: nn.Module, slices: Slices, settings: RunSettings) -> float:
    """The objective over a whole set of slices, in eval mode.

    Args:
        net: the network.
        slices: the slices.
        settings: the run's settings (batch size, input normalization).

    Returns:
        The mean L1, in the run's units.
    """
    net.eval()
    total = pixels = 0
    for index in torch.arange(len(slices)).split(settings.batch_size):
        loss_sum, _, count = batch_loss(net, slices, index, settings.normalized)
        total, pixels = total + loss_sum.item(), pixels + count
    return total / pixels


def validate(net: nn.Module, slices: Slices, settings: RunSettings) -> dict[str, float]:
    """fastMRI's validation scores: NMSE, PSNR and SSIM per volume, averaged over volumes.

    Outputs and targets are un-normalised first; PSNR and SSIM use each volume's ``max``
    attribute as the data range (its target's maximum where the file has none). ``l1`` is the
    mean L1 on normalised images (targets unclamped), comparable between all runs.

    Args:
        net: the network.
        slices: every slice of the validation volumes.
        settings: the run's settings (batch size, input normalization).

    Returns:
        ``{"nmse", "psnr", "ssim", "l1"}``.
    """
    output = _outputs(net, slices, settings)
    scale = slices.stds[:, None, None]
    target = slices.targets * scale + slices.means[:, None, None]
    per_volume = []
    for fname in dict.fromkeys(slices.fnames):
        rows = [i for i, name in enumerate(slices.fnames) if name == fname]
        maxval = float(slices.max_values[rows[0]]) or None
        per_volume.append(volume_metrics(target[rows].numpy(), output[rows].numpy(), maxval))
    scores = {k: float(np.mean([v[k] for v in per_volume])) for k in ("nmse", "psnr", "ssim")}
    scores["l1"] = float(((output - target).abs() / scale).mean())
    return scores


def zero_filled_scores(slices: Slices, batch_size: int) -> dict[str, float]:
    """The scores of the zero-filled input itself, the baseline every network must beat.

    Args:
        slices: every slice of some volumes.
        batch_size: slices per pass.

    Returns:
        As :func:`validate`.
    """
    return validate(nn.Identity(), slices, RunSettings(0, batch_size, normalized=False))
