"""The optimizer study: the same U-Net, data and seed trained by each optimizer over a grid of
step sizes, for the same budget of gradient evaluations.

Every optimizer is the project's own (``mri_recon.optim``); before the runs each is checked
against its ``torch.optim`` twin for the first steps on the study's network and data
(:func:`torch_check`). Sutskever's momentum has no torch twin: at a constant learning rate it
gives the same iterates as PyTorch's rule, so it is checked against ``torch.optim.SGD`` too.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch
from tqdm import tqdm

import mri_recon.optim
from mri_recon.studies.data import StudyData
from mri_recon.studies.loop import (
    RunRecord,
    RunSettings,
    batch_loss,
    full_loss,
    make_unet,
    train_run,
)


@dataclass(frozen=True)
class Method:
    """One optimizer configuration of the study.

    Attributes:
        name: short name (table and file key).
        label: the name shown in plots.
        optimizer: the class name in both ``mri_recon.optim`` and ``torch.optim``.
        lrs: the step sizes tried.
        full_batch: take gradient-descent steps on the whole training set.
        options: further constructor arguments.
    """

    name: str
    label: str
    optimizer: str
    lrs: tuple[float, ...]
    full_batch: bool = False
    options: dict[str, Any] = field(default_factory=dict)

    def build(self, params: Any, lr: float, reference: bool = False) -> torch.optim.Optimizer:
        """The project's optimizer, or with ``reference`` its ``torch.optim`` twin.

        Args:
            params: the parameters.
            lr: the learning rate.
            reference: build ``torch.optim``'s (PyTorch's momentum rule, whatever the style).

        Returns:
            The optimizer.
        """
        options = dict(self.options)
        if reference:
            options.pop("momentum_style", None)
        module = torch.optim if reference else mri_recon.optim
        return getattr(module, self.optimizer)(params, lr=lr, **options)


MOMENTUM_LRS = (0.01, 0.03, 0.1, 0.3)
CHECK_SLICES = 2  # slices of the gradients fed to both optimizers in the check against torch
METHODS = (
    Method("gd", "gradient descent (full batch)", "SGD", (0.1, 0.3, 1.0, 3.0), full_batch=True),
    Method("sgd", "SGD", "SGD", (0.03, 0.1, 0.3, 1.0)),
    Method(
        "momentum", "momentum 0.9 (PyTorch's rule)", "SGD", MOMENTUM_LRS, options={"momentum": 0.9}
    ),
    Method(
        "sutskever",
        "momentum 0.9 (Sutskever's rule)",
        "SGD",
        MOMENTUM_LRS,
        options={"momentum": 0.9, "momentum_style": "sutskever"},
    ),
    Method(
        "nesterov", "Nesterov 0.9", "SGD", MOMENTUM_LRS, options={"momentum": 0.9, "nesterov": True}
    ),
    Method("rmsprop", "RMSprop", "RMSprop", (1e-3, 3e-3, 1e-2, 3e-2)),
    Method("adam", "Adam", "Adam", (3e-3, 1e-2, 3e-2, 1e-1)),
)


@dataclass(frozen=True)
class OptimizerStudy:
    """The study's settings.

    Attributes:
        run: budget, batch size and seed shared by every run.
        chans: channels of the U-Net's first level.
        num_pool_layers: the U-Net's depth.
        methods: the optimizers and their step sizes.
        check_steps: steps of the comparison with ``torch.optim``.
    """

    run: RunSettings
    chans: int = 8
    num_pool_layers: int = 3
    methods: tuple[Method, ...] = METHODS
    check_steps: int = 3


def torch_check(study: OptimizerStudy, data: StudyData) -> dict[str, float]:
    """Steps each method's optimizer and its ``torch.optim`` twin with the same gradients.

    The gradients are those of the study's network on its first training slices, taken at the
    project's optimizer's weights and handed to both, so that the comparison measures the
    update rules alone (fed its own gradients, an adaptive method amplifies rounding
    differences in near-zero gradients step by step).

    Args:
        study: the settings (network, methods, steps).
        data: the slices; the first ``CHECK_SLICES`` training slices are used.

    Returns:
        Per method, ``||w_ours - w_torch|| / ||w_torch - w_start||`` after ``check_steps``.
    """
    index = torch.arange(min(CHECK_SLICES, len(data.train)))
    errors = {}
    for method in tqdm(study.methods, desc="checking against torch.optim", leave=False):
        net = make_unet(study.chans, study.num_pool_layers, seed=study.run.seed)
        params = list(net.parameters())
        twins = [p.detach().clone().requires_grad_() for p in params]
        start = torch.cat([p.detach().flatten() for p in params])
        ours = method.build(params, method.lrs[0])
        theirs = method.build(twins, method.lrs[0], reference=True)
        for _ in range(study.check_steps):
            ours.zero_grad()
            loss_sum, _, pixels = batch_loss(net, data.train, index, True)
            (loss_sum / pixels).backward()
            for twin, p in zip(twins, params):
                twin.grad = p.grad.clone()
            ours.step()
            theirs.step()
        mine = torch.cat([p.detach().flatten() for p in params])
        reference = torch.cat([t.detach().flatten() for t in twins])
        errors[method.name] = float((mine - reference).norm() / (reference - start).norm())
    return errors


@dataclass
class MethodResult:
    """Every run of one method, by step size, and the best one."""

    method: Method
    runs: dict[float, RunRecord]

    @property
    def best_lr(self) -> float | None:
        """The step size with the lowest final training loss (None if every run diverged)."""
        finished = {lr: r.train_loss for lr, r in self.runs.items() if r.train_loss is not None}
        return min(finished, key=finished.__getitem__) if finished else None


def run_study(study: OptimizerStudy, data: StudyData) -> list[MethodResult]:
    """Trains one fresh U-Net (same seed, same weights) per method and step size.

    Args:
        study: the settings.
        data: the slices.

    Returns:
        One result per method, in the order of ``study.methods``.
    """
    results = []
    total = sum(len(m.lrs) for m in study.methods)
    bar = tqdm(total=total, desc="optimizer runs", unit="run")
    for method in study.methods:
        runs = {}
        settings = replace(study.run, full_batch=method.full_batch)
        for lr in method.lrs:
            net = make_unet(study.chans, study.num_pool_layers, seed=study.run.seed)
            optimizer = method.build(net.parameters(), lr)
            runs[lr] = train_run(net, optimizer, data, settings, desc=f"{method.name} lr={lr:g}")
            bar.update()
        results.append(MethodResult(method, runs))
    bar.close()
    return results


def result_rows(results: list[MethodResult], start_loss: float) -> list[dict[str, Any]]:
    """One table row per run: method, step size, whether it is the method's best, its numbers.

    A run counts as diverged when it blew up (stopped early) or ended with a higher training
    loss than the untrained network's.

    Args:
        results: the runs of every method.
        start_loss: the untrained network's training loss.

    Returns:
        One row per run.
    """
    rows = []
    for result in results:
        best = result.best_lr
        for lr, record in result.runs.items():
            summary = record.summary()
            summary["diverged"] = record.diverged or record.train_loss >= start_loss
            rows.append({"method": result.method.name, "lr": lr, "best": lr == best, **summary})
    return rows


def initial_loss(study: OptimizerStudy, data: StudyData) -> float:
    """The training loss of the untrained network, where every run starts.

    Args:
        study: the settings (network, seed).
        data: the slices.

    Returns:
        The mean L1 over the training slices.
    """
    net = make_unet(study.chans, study.num_pool_layers, seed=study.run.seed)
    return full_loss(net, data.train, study.run)
