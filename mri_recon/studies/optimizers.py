"""The optimizer study: the same U-Net, data and seed trained by each of ``mri_recon.optim``'s
optimizers over a grid of step sizes, for the same budget of slice gradients.

Gradient evaluations, not steps, are the cost: every run is followed on one measure, the loss
over the whole training set against the slice gradients spent. SGD's price is noise: its
minibatch gradient ``g_B = G + xi`` is unbiased (``E xi = 0``: the mean of the per-slice gradients
is the full-batch gradient, checked), with variance ``sigma^2 = E |xi|^2 = (n - b) / (b (n - 1))
S^2``, ``S^2`` the spread of the per-slice gradients about ``G`` (exact for batches drawn without
replacement, as the loop draws them). In a quadratic model with one curvature ``c`` in every
direction, a step ``lr g_B`` changes the loss by ``-lr |G|^2 + lr^2 c / 2 (|G|^2 + sigma^2)`` on
average: the best step is the full gradient's ``1 / c`` times ``1 / (1 + sigma^2 / |G|^2)``,
measured here at the start and at the end of SGD's best run (the one curvature is the assumption).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure
from torch import Tensor, nn
from tqdm import tqdm

import mri_recon.optim
from mri_recon.studies import harness
from mri_recon.studies.harness import RunRecord, RunSettings, Scale, Slices, StudyData

FILES = ("optimizers.json", "optimizers.csv", "optimizers.png")
SCALES = {
    False: Scale(train_slices=32, val_volumes=6, epochs=5, batch_size=4),
    True: Scale(train_slices=8, val_volumes=1, epochs=2, batch_size=4),
}
UNBIASED = 1e-4  # relative: float32 sums of the same gradients in another order
COLUMNS = (
    "method lr best steps samples wall_s diverged train_loss val_ssim val_psnr val_nmse val_l1"
)
TABLE = "method:s lr:g best steps:d wall_s:.1f diverged train_loss:.4f val_ssim:.4f val_psnr:.2f"


@dataclass(frozen=True)
class Method:
    """An optimizer of ``mri_recon.optim`` (class ``optimizer``, constructor ``options``) at step
    sizes ``lrs``, on the whole training set per step (``full_batch``) or on minibatches."""

    name: str
    label: str
    optimizer: str
    lrs: tuple[float, ...]
    options: dict[str, Any] = field(default_factory=dict)
    full_batch: bool = False


MOMENTUM, MOMENTUM_LRS = {"momentum": 0.9}, (0.01, 0.03, 0.1, 0.3)
METHODS = (
    Method("gd", "gradient descent (full batch)", "SGD", (0.1, 0.3, 1.0, 3.0), full_batch=True),
    Method("sgd", "SGD", "SGD", (0.03, 0.1, 0.3, 1.0)),
    Method("momentum", "momentum 0.9 (PyTorch's rule)", "SGD", MOMENTUM_LRS, MOMENTUM),
    Method("sutskever", "momentum 0.9 (Sutskever's rule)", "SGD", MOMENTUM_LRS,
           MOMENTUM | {"momentum_style": "sutskever"}),
    Method("nesterov", "Nesterov 0.9", "SGD", MOMENTUM_LRS, MOMENTUM | {"nesterov": True}),
    Method("rmsprop", "RMSprop", "RMSprop", (1e-3, 3e-3, 1e-2, 3e-2)),
    Method("adam", "Adam", "Adam", (3e-3, 1e-2, 3e-2, 1e-1)),
)  # fmt: skip


@dataclass(frozen=True)
class OptimizerStudy:
    """The settings: every run's budget, batch size and seed (``run``), the U-Net's ``chans``, the
    ``methods`` and their step sizes."""

    run: RunSettings
    chans: int = 8
    methods: tuple[Method, ...] = METHODS


@dataclass
class MethodResult:
    """Every run of one method by step size: its record, its training loss over the whole set at
    every epoch, ``[(slice gradients, loss)]``, and its trained network."""

    method: Method
    runs: dict[float, RunRecord] = field(default_factory=dict)
    curves: dict[float, list[tuple[int, float]]] = field(default_factory=dict)
    nets: dict[float, nn.Module] = field(default_factory=dict)

    @property
    def best_lr(self) -> float | None:
        """The step size of the lowest final training loss (None if every run diverged)."""
        finished = {lr: r.train_loss for lr, r in self.runs.items() if r.train_loss is not None}
        return min(finished, key=finished.__getitem__) if finished else None


def run_study(study: OptimizerStudy, data: StudyData) -> list[MethodResult]:
    """Trains one fresh U-Net (same seed, same initial weights) per method and step size."""
    results, marks = [], range(0, study.run.budget + 1, len(data.train))
    bar = tqdm(total=sum(len(m.lrs) for m in study.methods), desc="optimizer runs", unit="run")
    for method in study.methods:
        result, settings = MethodResult(method), replace(study.run, full_batch=method.full_batch)
        for lr in method.lrs:
            net = result.nets[lr] = harness.make_unet(study.chans, seed=study.run.seed)
            optimizer = getattr(mri_recon.optim, method.optimizer)
            curve = result.curves[lr] = []

            def at_mark(spent: int, net: nn.Module = net, curve: list = curve) -> None:
                curve.append((spent, harness.full_loss(net, data.train, study.run)))

            result.runs[lr] = harness.train_run(
                net, optimizer(net.parameters(), lr=lr, **method.options), data, settings, marks,
                at_mark, desc=f"{method.name} lr={lr:g}",
            )  # fmt: skip
            bar.update()
        results.append(result)
    bar.close()
    return results


def _gradient(net: nn.Module, slices: Slices, index: Tensor, pixels: int) -> Tensor:
    """The flat gradient of the L1 summed over ``index``, divided by ``pixels``."""
    net.zero_grad()
    (harness.batch_loss(net, slices, index, True)[0] / pixels).backward()
    return torch.cat([p.grad.reshape(-1) for p in net.parameters()])


def gradient_noise(net: nn.Module, slices: Slices, batch_size: int) -> dict[str, float]:
    """The gradient's signal and noise at ``net``'s weights (see the module's docstring), from
    every per-slice gradient: ``full_grad_sq`` ``|G|^2``, ``slice_variance`` ``S^2``,
    ``minibatch_variance`` ``sigma^2``, ``noise_to_signal``, ``lr_factor`` ``1 / (1 + ratio)``,
    and ``bias``: the full-batch gradient (in chunks, as the loop takes it) against the mean of the
    per-slice gradients, relative."""
    n, pixels, batches = len(slices), slices.images[0].numel(), torch.arange(len(slices))
    net.train()
    per_slice = torch.stack([_gradient(net, slices, batches[i : i + 1], pixels) for i in range(n)])
    full = sum(_gradient(net, slices, index, pixels * n) for index in batches.split(batch_size))
    mean = per_slice.mean(0)
    spread = float(((per_slice - mean) ** 2).sum(1).mean())
    noise, signal = (n - batch_size) / (batch_size * (n - 1)) * spread, float(full @ full)
    return {
        "full_grad_sq": signal, "slice_variance": spread, "minibatch_variance": noise,
        "noise_to_signal": noise / signal, "lr_factor": signal / (signal + noise),
        "bias": float((full - mean).norm() / mean.norm()),
    }  # fmt: skip


def optimizers_figure(
    results: list[MethodResult], n: int, start: float, zero_filled: float, noise: dict
) -> Figure:
    """Training loss against gradient evaluations at each method's best step size, with the
    minibatch gradient's noise; final loss by step size."""
    figure = Figure(figsize=(14, 5.5), layout="constrained")
    curves, finals = figure.subplots(1, 2)
    for result in results:
        style = {"ls": "--"} if result.method.name == "sutskever" else {}
        label, best = result.method.label, result.best_lr
        if best is not None:
            samples, losses = zip(*result.curves[best])
            epochs = [s / n for s in samples]
            curves.semilogy(epochs, losses, marker=".", label=f"{label}, lr {best:g}", **style)
        final = {lr: run.train_loss for lr, run in result.runs.items()}
        done = [(lr, loss) for lr, loss in final.items() if loss is not None]
        line = finals.loglog(*zip(*done), marker="o", label=label, **style) if done else []
        color = line[0].get_color() if line else None
        blown = [lr for lr, loss in final.items() if loss is None]
        finals.scatter(blown, [3 * start] * len(blown), marker="x", s=60, color=color)
    references = ((curves, zero_filled, "zero-filled input"), (finals, start, "untrained network"))
    for axes, level, text in references:  # in the legends: a text on the line can hide there
        axes.axhline(level, color="grey", ls="--", lw=1, label=text)
    finals.legend(fontsize=8)
    curves.set(xlabel="gradient evaluations (epochs of slice gradients)", ylabel="training L1")
    curves.set_title("loss on the whole training set, each optimizer at its best step size")
    finals.set(xlabel="step size", ylabel="final training L1 loss")
    finals.set_title("final loss by step size (x: blew up; above the line: worse than at start)")
    lines = [f"{name}: E|g_B - G|^2 / |G|^2 = {v['noise_to_signal']:.2g}, best step x "
             f"{v['lr_factor']:.2f}" for name, v in noise.items()]  # fmt: skip
    title = "SGD's minibatch gradient g_B:\n" + "\n".join(lines)  # above the curves' labels
    curves.legend(fontsize=8, title=title, title_fontsize=8)
    return figure


def run(size: Scale, data: StudyData, output_dir: Path, quick: bool) -> tuple[str, list]:
    """Trains every run (``quick``: the middle two step sizes), measures the gradient noise,
    writes ``FILES`` (``output_dir`` checked beforehand); returns the summary and the checks."""
    methods = tuple(replace(m, lrs=m.lrs[1:3]) for m in METHODS) if quick else METHODS
    study = OptimizerStudy(size.run(len(data.train)), size.chans, methods)
    nets = {"start": harness.make_unet(study.chans, seed=study.run.seed)}
    start = harness.full_loss(nets["start"], data.train, study.run)
    zero_filled = {"val": harness.zero_filled_scores(data.val)}
    zero_filled["train_l1"] = harness.zero_filled_scores(data.train)["l1"]
    results = run_study(study, data)
    sgd = next(r for r in results if r.method.name == "sgd")
    nets |= {} if sgd.best_lr is None else {"end of SGD": sgd.nets[sgd.best_lr]}
    noise = {name: gradient_noise(net, data.train, size.batch_size) for name, net in nets.items()}
    statement = "the minibatch gradient is unbiased: mean of per-slice gradients = full-batch's"
    checks = [
        harness.check(f"{statement} ({name})", v["bias"] <= UNBIASED, f"off by {v['bias']:.1e}")
        for name, v in noise.items()
    ]
    rows, curves = [], {}
    for result in results:
        for lr, record in result.runs.items():
            row = {"method": result.method.name, "lr": lr, "best": lr == result.best_lr}
            diverged = record.diverged or record.train_loss >= start  # or ended above the start
            rows.append(row | record.summary() | {"diverged": diverged})
            evaluations = dict(zip(("eval_samples", "eval_loss"), zip(*result.curves[lr])))
            steps = {"samples": record.samples, "loss": record.loss}
            curves[f"{result.method.name} lr={lr:g}"] = steps | evaluations
    settings = asdict(study) | harness.UNET  # the network's architecture too
    content = {"study": "optimizers", "data": data.describe(), "settings": settings}
    content |= {"initial_train_loss": start, "zero_filled": zero_filled, "gradient_noise": noise}
    content |= {"checks": checks, "runs": rows, "curves": curves}
    figure = optimizers_figure(results, len(data.train), start, zero_filled["train_l1"], noise)
    wrote = harness.write_files(output_dir, FILES, content, (rows, COLUMNS.split()), figure)
    text = [
        f"untrained network: training loss {start:.4f}; zero-filled input: validation SSIM "
        f"{zero_filled['val']['ssim']:.4f}, PSNR {zero_filled['val']['psnr']:.2f}, training L1 "
        f"{zero_filled['train_l1']:.4f}",
        harness.table(rows, TABLE),
        f"SGD's gradient noise, batches of {size.batch_size} of {len(data.train)} slices:",
        *(f"  {name}: |G|^2 {v['full_grad_sq']:.4g}, E|g_B - G|^2 {v['minibatch_variance']:.4g}, "
          f"noise/signal {v['noise_to_signal']:.3g}: best step x {v['lr_factor']:.3f}"
          for name, v in noise.items()),
        harness.format_checks(checks),
    ]  # fmt: skip
    return "\n".join([*text, *wrote]), checks
