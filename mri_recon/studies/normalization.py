"""The normalization study: the U-Net's normalization layers, input normalization, batch size.

Every variant trains the U-Net from the same seed with the project's Adam for the same budget of
slice gradients and differs in one thing: the norm after each convolution (none, batch, instance
as fastMRI's, group, layer); input normalization off (raw magnitudes in, raw targets out); or
batches of 1, where batch norm normalises each image by its own statistics while training (which
is instance norm, checked) but by running averages at evaluation. The convolutions have no bias,
so "none" is also a network with no bias before its last layer.

A norm after a convolution makes the loss blind to the scale of that convolution's weights: the
gradient is orthogonal to them and shrinks as they grow, so gradient norms are not comparable
between networks with and without norms. With raw inputs the same blindness has a cost: instance
norm's output does not depend on the input's brightness, so the network cannot reproduce each
slice's brightness. ``val_psnr_fitted`` scales each output slice to its target (least squares)
to measure that cost, beside the raw L1's heavier weighting of bright slices.

One run per variant at one learning rate and seed is one sample: a sweep of Adam's learning rate
with several seeds, on a shorter budget, gives each norm's usable range and the seeds' spread.
Curves show the L1 on normalised images whatever the objective, so all variants share one axis.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from torch import nn
from tqdm import tqdm

from mri_recon.optim import Adam
from mri_recon.studies import harness
from mri_recon.studies.harness import RunRecord, RunSettings, Scale, StudyData

FILES = ("normalization.json", "normalization.csv", "normalization.png")
SCALES = {
    False: Scale(train_slices=32, val_volumes=6, epochs=12, batch_size=8),
    True: Scale(train_slices=8, val_volumes=1, epochs=2, batch_size=8),
}
SAME_TRAINING = 1e-5  # relative difference of step losses that still counts as the same run
NORMS = ("none", "batch", "instance", "group", "layer")
TABLE = (
    "variant:s batch_size:d input_normalized steps:d diverged last_epoch_l1:.4f val_l1:.4f "
    "val_ssim:.4f val_psnr:.2f val_psnr_fitted:.2f"
)
COLUMNS = (
    "variant norm batch_size input_normalized steps samples wall_s diverged train_loss "
    "last_epoch_l1 val_ssim val_psnr val_nmse val_l1 val_psnr_fitted"
)
SWEEP = "norm:s lr:g finished:d mean:.4f min:.4f max:.4f"


@dataclass(frozen=True)
class Variant:
    """A setup (``name``, as plots show it): the U-Net's ``norm``, slices per step, input
    normalization on (else ``-raw``) or off; ``-b1``: batches of 1."""

    name: str
    norm: str
    batch_size: int = 8
    normalized: bool = True


VARIANTS = (
    *(Variant(norm, norm) for norm in NORMS),
    Variant("none-raw", "none", normalized=False),
    Variant("instance-raw", "instance", normalized=False),
    Variant("batch-b1", "batch", batch_size=1),
    Variant("instance-b1", "instance", batch_size=1),
)


@dataclass(frozen=True)
class NormalizationStudy:
    """The settings: budget and seed (``run``), Adam's ``lr``, the U-Net's ``chans``, the
    ``variants`` and validations during training (``val_points``); the sweep's learning rates,
    seeds and budget in epochs (``sweep_*``), for every norm at batches of 8."""

    run: RunSettings
    lr: float = 1e-2
    chans: int = 8
    variants: tuple[Variant, ...] = VARIANTS
    val_points: int = 3
    sweep_lrs: tuple[float, ...] = (1e-3, 1e-2, 1e-1)
    sweep_seeds: tuple[int, ...] = (0, 1, 2)
    sweep_epochs: float = 2


def train(
    study: NormalizationStudy, data: StudyData, variant: Variant, lr: float, seed: int, budget: int
) -> tuple[RunRecord, nn.Module, list[dict[str, float]]]:
    """One run and its network. A main run (the study's budget) records its validation scores
    during training and at the end; a sweep run (another budget) only its final training loss in
    train mode (``{"samples", "l1"}``), so that batch norm's running averages play no part."""
    net = harness.make_unet(study.chans, variant.norm, seed)
    settings = replace(study.run, budget=budget, seed=seed, batch_size=variant.batch_size)
    settings = replace(settings, normalized=variant.normalized)
    main = budget == study.run.budget
    marks = [budget * (i + 1) // (study.val_points + 1) for i in range(study.val_points)]
    curve: list[dict[str, float]] = []

    def at_mark(spent: int) -> None:
        scores = harness.validate(net, data.val, settings) if main else {}
        scores = scores or {"l1": harness.full_loss(net, data.train, settings, train=True)}
        curve.append({"samples": spent, **scores})

    desc, optimizer = f"{variant.name} lr={lr:g} seed {seed}", Adam(net.parameters(), lr=lr)
    marks = marks if main else [budget]
    record = harness.train_run(net, optimizer, data, settings, marks, at_mark, desc, score=main)
    return record, net, curve


def fitted_psnr(net: nn.Module, data: StudyData, settings: RunSettings) -> float:
    """Validation PSNR with each output slice scaled to its target's brightness (least squares)."""
    output, target = harness.outputs(net, data.val, settings), data.val.raw(data.val.targets)
    gain = (output * target).sum((-2, -1)) / (output * output).sum((-2, -1)).clamp(min=1e-12)
    return harness.scores(output * gain[:, None, None], data.val)["psnr"]


def sweep(study: NormalizationStudy, data: StudyData) -> tuple[list[dict], list[dict]]:
    """Every norm at every sweep learning rate and seed: a row per run (its final training L1,
    train mode; None: diverged, the loop's rule applied to the final loss too), and per (norm, lr)
    the mean, min and max over the seeds whose run finished."""
    budget, rows, spread = round(study.sweep_epochs * len(data.train)), [], []
    jobs = [(n, lr, seed) for n in NORMS for lr in study.sweep_lrs for seed in study.sweep_seeds]
    for norm, lr, seed in tqdm(jobs, desc="learning-rate sweep", unit="run"):
        record, _, curve = train(study, data, Variant(norm, norm), lr, seed, budget)
        l1 = curve[-1]["l1"] if curve else math.inf
        finished = l1 < harness.DIVERGENCE_FACTOR * record.loss[0]  # as the loop judges a step
        rows.append({"norm": norm, "lr": lr, "seed": seed, "l1": l1 if finished else None})
    for norm, lr in ((n, lr) for n in NORMS for lr in study.sweep_lrs):
        values = [r["l1"] for r in rows if (r["norm"], r["lr"]) == (norm, lr) and r["l1"]]
        stats = {"mean": np.mean(values), "min": min(values), "max": max(values)} if values else {}
        spread.append({"norm": norm, "lr": lr, "finished": len(values), **stats})
    return rows, spread


def batch_of_one_check(records: dict[str, RunRecord]) -> list[dict[str, Any]]:
    """Batch norm of one image is instance norm: ``batch-b1`` and ``instance-b1`` take the same
    steps (checked when both ran)."""
    if not {"batch-b1", "instance-b1"} <= set(records):
        return []
    ours, theirs = records["batch-b1"].loss, records["instance-b1"].loss
    gap = max(abs(a - b) / abs(b) for a, b in zip(ours, theirs))
    statement = "batch-b1 trains exactly as instance-b1 (batch norm of one image is instance norm)"
    detail = f"largest relative difference of the step losses {gap:.1e}"
    return [harness.check(statement, len(ours) == len(theirs) and gap <= SAME_TRAINING, detail)]


def normalization_figure(
    study: NormalizationStudy, runs: tuple[dict, dict, list], spread: list, n: int, zero: float
) -> Figure:
    """Training L1, gradient norm and validation SSIM during training; final scores; the sweep.
    ``runs``: records, validation curves and table rows; ``n``: training slices; ``zero``: the
    zero-filled input's SSIM (dashed)."""
    records, curves, rows = runs
    figure = Figure(figsize=(15, 9), layout="constrained")
    axes = figure.subplot_mosaic([["loss", "grads", "ssim"], ["bars", "bars", "sweep"]])
    colors = {}
    for variant, row in zip(study.variants, rows):
        record = records[variant.name]
        style = {"ls": "--" if not variant.normalized else ":" if variant.batch_size == 1 else "-"}
        line = axes["loss"].semilogy(*record.per_epoch(record.l1, n), label=variant.name, **style)
        colors[variant.name] = color = line[0].get_color()
        axes["grads"].semilogy(*record.per_epoch(record.grad_norm, n), color=color, **style)
        points = [(v["samples"] / n, v["ssim"]) for v in curves[variant.name]]
        points += [(record.samples[-1] / n, record.val["ssim"])] if record.val else []
        if points:
            axes["ssim"].plot(*zip(*points), marker=".", color=color, **style)
        ssim = row.get("val_ssim") or 0.0
        text = f" {ssim:.3f}, {row['val_psnr']:.1f} dB (brightness fitted: " if record.val else ""
        text = f"{text}{row['val_psnr_fitted']:.1f} dB)" if record.val else " diverged"
        axes["bars"].barh(variant.name, ssim, color=color)
        axes["bars"].text(max(ssim, 0.0), variant.name, text, va="center", fontsize=8)
    for norm in NORMS:
        done = [s for s in spread if s["norm"] == norm and s["finished"]]
        errors = [[s["mean"] - s["min"] for s in done], [s["max"] - s["mean"] for s in done]]
        lrs, means = [s["lr"] for s in done], [s["mean"] for s in done]
        style = {"marker": "o", "capsize": 3, "color": colors.get(norm), "label": norm}
        axes["sweep"].errorbar(lrs, means, errors, **style)
    axes["loss"].set(xlabel="epochs", ylabel="training L1 (normalised images, epoch mean)")
    axes["loss"].set_title("training loss")
    axes["loss"].legend(fontsize=8)
    axes["grads"].set(xlabel="epochs", ylabel="gradient norm (epoch mean)")
    axes["grads"].set_title("gradient norm (a norm hides its convolution's scale)")
    axes["ssim"].set(xlabel="epochs", ylabel="validation SSIM (eval mode)")
    axes["ssim"].set_title("validation SSIM during training (dashed: zero-filled input)")
    axes["ssim"].axhline(zero, color="grey", ls="--", lw=1)
    axes["bars"].axvline(zero, color="grey", ls="--", lw=1)
    axes["bars"].invert_yaxis()
    axes["bars"].set(
        xlabel="final validation SSIM, PSNR (dashed: zero-filled input)", xlim=(None, 1)
    )
    axes["sweep"].set(xscale="log", yscale="log", xlabel="Adam's learning rate", ylabel="L1")
    axes["sweep"].legend(fontsize=8)
    epochs = harness.counted(study.sweep_epochs, "epoch")
    seeds = f"{harness.counted(len(study.sweep_seeds), 'seed')}, {epochs}"
    axes["sweep"].set_title(f"sweep: final training L1 (train mode), mean and range of {seeds}")
    return figure


def run(size: Scale, data: StudyData, output_dir: Path, quick: bool) -> tuple[str, list]:
    """Trains every variant and the sweep (``quick``: shorter), writes ``FILES`` (``output_dir``
    checked beforehand); returns the printed summary and the checks."""
    study = NormalizationStudy(size.run(len(data.train)), chans=size.chans)
    if quick:
        study = replace(study, val_points=1, sweep_lrs=(1e-2, 1e-1), sweep_epochs=1)
    zero_filled, records, curves, rows = harness.zero_filled_scores(data.val), {}, {}, []
    for variant in tqdm(study.variants, desc="normalization runs", unit="run"):
        record, net, curves[variant.name] = train(
            study, data, variant, study.lr, study.run.seed, study.run.budget
        )
        settings = replace(study.run, batch_size=variant.batch_size, normalized=variant.normalized)
        setup = {"variant": variant.name, "norm": variant.norm, "batch_size": variant.batch_size}
        setup |= {"input_normalized": variant.normalized, **record.summary()}
        setup["last_epoch_l1"] = record.per_epoch(record.l1, len(data.train))[1][-1]
        setup["val_psnr_fitted"] = None if record.diverged else fitted_psnr(net, data, settings)
        records[variant.name] = record
        rows.append(setup)
    sweep_rows, spread = sweep(study, data)
    maxima = data.val.raw(data.val.targets).amax((-2, -1))
    settings = asdict(study) | harness.UNET  # the network's architecture too
    content = {"study": "normalization", "data": data.describe(), "settings": settings}
    content |= {"zero_filled": zero_filled, "checks": batch_of_one_check(records), "runs": rows}
    content["val_target_max"] = {"min": float(maxima.min()), "max": float(maxima.max())}
    content["lr_sweep"] = {"runs": sweep_rows, "spread": spread}
    content["curves"] = {
        name: {"samples": r.samples, "l1": r.l1, "grad_norm": r.grad_norm, "val": curves[name]}
        for name, r in records.items()
    }
    runs = records, curves, rows
    figure = normalization_figure(study, runs, spread, len(data.train), zero_filled["ssim"])
    wrote = harness.write_files(output_dir, FILES, content, (rows, COLUMNS.split()), figure)
    text = [
        f"zero-filled input: validation SSIM {zero_filled['ssim']:.4f}, PSNR "
        f"{zero_filled['psnr']:.2f}, L1 {zero_filled['l1']:.4f}; the validation targets' maxima "
        f"range from {float(maxima.min()):.3g} to {float(maxima.max()):.3g}",
        harness.table(rows, TABLE),
        "learning-rate sweep: training L1 (train mode) after "
        f"{harness.counted(study.sweep_epochs, 'epoch')}, "
        f"over seeds {', '.join(map(str, study.sweep_seeds))}",
        harness.table(spread, SWEEP),
    ]
    return "\n".join([*text, harness.format_checks(content["checks"]), *wrote]), content["checks"]
