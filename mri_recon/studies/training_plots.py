"""Figures of the training studies (optimizers, normalization): curves per epoch and scores."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from mri_recon.studies.loop import RunRecord
from mri_recon.studies.normalization import NormalizationStudy
from mri_recon.studies.optimizers import MethodResult


def _reference(axes: Axes, level: float | None, text: str) -> None:
    """A dashed horizontal line with a label at its left end."""
    if level is not None:
        axes.axhline(level, color="grey", ls="--", lw=1)
        axes.text(axes.get_xlim()[0], level, f" {text}", color="grey", va="bottom", fontsize=8)


def optimizers_figure(
    results: list[MethodResult], size: int, start_loss: float, zero_filled_l1: float
) -> Figure:
    """Training loss per epoch at each method's best step size, and final loss per step size.

    Args:
        results: the runs.
        size: slices in the training set.
        start_loss: the untrained network's training loss.
        zero_filled_l1: the zero-filled input's L1 against the targets (normalised images).

    Returns:
        The figure.
    """
    figure = Figure(figsize=(14, 5.5), layout="constrained")
    curves, finals = figure.subplots(1, 2)
    for result in results:
        best = result.best_lr
        label = result.method.label
        style = {"ls": "--"} if result.method.name == "sutskever" else {}
        if best is not None:
            record = result.runs[best]
            epochs, means = record.per_epoch(record.loss, size)
            curves.semilogy(epochs, means, marker=".", label=f"{label}, lr {best:g}", **style)
        lrs = list(result.runs)
        losses = [result.runs[lr].train_loss for lr in lrs]
        finished = [(lr, loss) for lr, loss in zip(lrs, losses) if loss is not None]
        line = finals.loglog(*zip(*finished), marker="o", label=label, **style) if finished else []
        blown = [lr for lr, loss in zip(lrs, losses) if loss is None]
        color = line[0].get_color() if line else None
        finals.scatter(blown, [3 * start_loss] * len(blown), marker="x", s=60, color=color)
    curves.set(xlabel="epochs of gradient evaluations", ylabel="training L1 loss (epoch mean)")
    curves.set_title("each optimizer at its best step size")
    _reference(curves, zero_filled_l1, "zero-filled input")
    curves.legend(fontsize=8)
    finals.set(xlabel="step size", ylabel="final training L1 loss")
    finals.set_title("final loss by step size (x: blew up; above the line: worse than at start)")
    _reference(finals, start_loss, "untrained network")
    finals.legend(fontsize=8)
    return figure


def normalization_figure(
    study: NormalizationStudy, records: dict[str, RunRecord], size: int, zero_filled: dict
) -> Figure:
    """Four panels: training L1, gradient norm, validation SSIM during training, final scores.

    Args:
        study: the settings (the variants).
        records: the runs by variant name.
        size: slices in the training set.
        zero_filled: the zero-filled input's validation scores.

    Returns:
        The figure.
    """
    figure = Figure(figsize=(14, 9), layout="constrained")
    (loss, grads), (ssim, bars) = figure.subplots(2, 2)
    names, finals, colors, texts = [], [], [], []
    for variant in study.variants:
        record = records[variant.name]
        style = {"ls": "--" if not variant.normalized else ":" if variant.batch_size == 1 else "-"}
        epochs, means = record.per_epoch(record.l1, size)
        lines = loss.semilogy(epochs, means, label=variant.label, **style)
        color = lines[0].get_color()
        grads.semilogy(*record.per_epoch(record.grad_norm, size), color=color, **style)
        curve = [(s / size, v["ssim"]) for s, v in record.val_curve]
        if record.val is not None:
            curve.append((record.samples[-1] / size, record.val["ssim"]))
        if curve:
            ssim.plot(*zip(*curve), marker=".", color=color, **style)
        names.append(variant.label)
        colors.append(color)
        scores = record.val
        finals.append(scores["ssim"] if scores is not None else 0.0)
        texts.append(f" {scores['ssim']:.3f}, {scores['psnr']:.1f} dB" if scores else " diverged")
    loss.set(xlabel="epochs", ylabel="training L1 on normalised images (epoch mean)")
    loss.set_title("training loss")
    loss.legend(fontsize=8)
    grads.set(xlabel="epochs", ylabel="gradient norm (epoch mean)")
    grads.set_title("gradient norm")
    ssim.set(xlabel="epochs", ylabel="validation SSIM")
    ssim.set_title("validation SSIM during training (eval mode)")
    _reference(ssim, zero_filled["ssim"], "zero-filled input")
    positions = np.arange(len(names))
    bars.barh(positions, finals, color=colors)
    for position, value, text in zip(positions, finals, texts):
        bars.text(max(value, 0.0), position, text, va="center", fontsize=8)
    bars.set_yticks(positions, names, fontsize=8)
    bars.invert_yaxis()
    bars.axvline(zero_filled["ssim"], color="grey", ls="--", lw=1)
    bars.set(xlabel="final validation SSIM, PSNR (dashed: zero-filled input)")
    bars.set_xlim(min(0.0, min(finals)), 1.0)
    return figure
