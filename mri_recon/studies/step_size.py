"""The step-size study: ``mri_recon.optim.SGD`` on a quadratic whose Hessian is known, then the
U-Net's loss along its gradient (:mod:`mri_recon.studies.landscape`).

On ``f(x) = x^T A x / 2`` (minimum 0 at 0), with the eigenvalues of ``A`` between ``mu`` and ``L``,
a gradient step of size ``lr`` multiplies the error along an eigenvector of eigenvalue ``lam`` by
``1 - lr lam``. So ``lr <= 1/L``: every coordinate shrinks without changing sign (at ``1/L`` the
top one is gone in one step); ``1/L < lr < 2/L``: the top coordinate flips sign every step but
shrinks, and ``f`` still decreases; ``lr > 2/L``: it grows without bound. The best constant step,
``2 / (L + mu)``, gives the rate ``(kappa - 1) / (kappa + 1)``, ``kappa = L / mu``; heavy-ball
momentum with ``lr = 4 / (sqrt(L) + sqrt(mu))^2``, ``momentum = ((sqrt(kappa) - 1) / (sqrt(kappa)
+ 1))^2`` reaches ``(sqrt(kappa) - 1) / (sqrt(kappa) + 1)``, and Nesterov's method with ``lr =
1/L``, ``momentum = (sqrt(kappa) - 1) / (sqrt(kappa) + 1)`` reaches ``1 - 1/sqrt(kappa)`` (Polyak
1964; Nesterov 1983). ``SGD``'s two momentum rules give the same iterates at a constant ``lr``
and differ once it changes (:func:`momentum_step_gap`).

A grid runs in one optimizer: a step of ``lr`` on ``f`` is a step of 1 on ``lr f`` (at a constant
step size), so row ``r`` of a parameter minimises ``lrs[r] f`` with ``lr=1``, one ``SGD.step``
advances every step size, and each momentum value is one param group.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import torch
from matplotlib.figure import Figure
from torch import Tensor, nn
from tqdm import tqdm

from mri_recon.optim import SGD
from mri_recon.studies import harness, landscape
from mri_recon.studies.harness import Scale, StudyData, check

FILES = (
    "step_size.json",
    "step_size_rates.csv",
    "step_size_quadratic.png",
    "step_size_network.png",
)
SCALES = {
    False: Scale(train_slices=32, val_volumes=1, epochs=8, batch_size=4),
    True: Scale(train_slices=8, val_volumes=1, epochs=2, batch_size=4),
}
FLOOR = 1e-100  # errors below this are too close to float64's underflow to measure a rate on
ROUNDING = 1e-9  # a coordinate below this times the start's norm has no reliable sign
MARGIN = 1e-3  # step sizes 2/L (1 -+ margin) must converge / diverge
METHODS = {"gd": {}, "momentum": {}, "nesterov": {"nesterov": True}}  # name: SGD options
LABELS = {"gd": "gradient descent", "momentum": "heavy-ball momentum", "nesterov": "Nesterov"}
RATES = (  # the table's columns, as harness.table reads them
    "condition:g method:s best_lr_times_L:.3f best_momentum:.3f best_rate:.4f best_from:s "
    "theory_lr_times_L:.3f theory_momentum:.3f theory_rate:.4f rate_at_theory_setting:.4f"
)
RATE_KEYS = [column.split(":")[0] for column in RATES.split()]


@dataclass(frozen=True)
class Quadratic:
    """``f(x) = x^T A x / 2``, float64: ``hessian`` ``A``, its ascending ``eigenvalues`` and
    ``eigenvectors`` (columns), and a ``start`` with equal weight on every eigenvector."""

    hessian: Tensor
    eigenvalues: Tensor
    eigenvectors: Tensor
    start: Tensor

    @property
    def largest(self) -> float:
        """``L``, the largest eigenvalue (the gradient's Lipschitz constant)."""
        return float(self.eigenvalues[-1])

    @property
    def smallest(self) -> float:
        """``mu``, the smallest eigenvalue (the strong-convexity constant)."""
        return float(self.eigenvalues[0])

    def value(self, x: Tensor) -> Tensor:
        """``f`` of points ``x``, (..., dim) -> (...)."""
        return 0.5 * ((x @ self.hessian) * x).sum(-1)


def make_quadratic(condition: float, dim: int, seed: int = 0) -> Quadratic:
    """A quadratic with eigenvalues spread geometrically over [1, ``condition``], rotated at random
    (``seed``); its eigenvalues are computed back from the Hessian, not copied."""
    if not condition >= 1:
        raise ValueError(f"condition-number: must be >= 1, got {condition}")
    if dim < 2:
        raise ValueError(f"dim: must be >= 2, got {dim}")
    gen = torch.Generator().manual_seed(seed)
    rotation, _ = torch.linalg.qr(torch.randn(dim, dim, generator=gen, dtype=torch.float64))
    hessian = rotation @ torch.diag(torch.logspace(0, math.log10(condition), dim).double())
    hessian = hessian @ rotation.T
    eigenvalues, eigenvectors = torch.linalg.eigh((hessian + hessian.T) / 2)
    return Quadratic(hessian, eigenvalues, eigenvectors, eigenvectors.sum(1) / math.sqrt(dim))


def descend(problem: Quadratic, steps: int, lr: float, factor=lambda t: 1.0, **options) -> Tensor:
    """``SGD`` (with ``options``: momentum, nesterov, momentum_style) from the start, the learning
    rate of step ``t`` being ``lr * factor(t)``; returns the iterates, (steps + 1, dim)."""
    x = nn.Parameter(problem.start.clone())
    optimizer = SGD([x], lr=lr, **options)
    iterates = [x.detach().clone()]
    for step in range(steps):
        optimizer.param_groups[0]["lr"] = lr * factor(step)
        optimizer.zero_grad()
        problem.value(x).backward()
        optimizer.step()
        iterates.append(x.detach().clone())
    return torch.stack(iterates)


def descend_grid(
    problem: Quadratic, steps: int, lrs: Sequence[float], momenta: Sequence[float], **options: Any
) -> tuple[Tensor, Tensor]:
    """Every (momentum, lr) pair at once (see the module's docstring): ``||x_t||`` and ``f(x_t)``,
    each (steps + 1, momenta, lrs), inf once a run diverged."""
    scales = torch.tensor(list(lrs), dtype=torch.float64)
    rows = [nn.Parameter(problem.start.repeat(len(lrs), 1)) for _ in momenta]
    groups = [{"params": [x], "momentum": m} for x, m in zip(rows, momenta)]
    optimizer = SGD(groups, lr=1.0, momentum=max(momenta), **options)
    iterates = [torch.stack(rows).detach()]
    for _ in range(steps):
        optimizer.zero_grad()
        sum(problem.value(x) @ scales for x in rows).backward()
        optimizer.step()
        iterates.append(torch.stack(rows).detach())
    norms = torch.stack([x.norm(dim=-1) for x in iterates]).nan_to_num(nan=math.inf)
    return norms, torch.stack([problem.value(x) for x in iterates]).nan_to_num(nan=math.inf)


def measured_rate(norms: Tensor) -> Tensor:
    """The error's contraction per step over the second half of each run, (steps + 1, ...) ->
    (...), inf where it diverged; a run's window ends at its last error above ``FLOOR``."""
    end = ((norms > FLOOR).sum(0) - 1).clamp(min=2, max=norms.shape[0] - 1)
    last, middle = norms.gather(0, end[None])[0], norms.gather(0, (end // 2)[None])[0]
    rate = (last / middle) ** (1 / (end - end // 2))
    return torch.where(torch.isfinite(rate), rate, torch.full_like(rate, math.inf))


class Setting(NamedTuple):
    """A step size and momentum, and the rate (error shrink per step) they give."""

    lr: float
    momentum: float
    rate: float


def best_setting(problem: Quadratic, steps: int, lrs: list, momenta: list, zoom: int, **options):
    """The fastest (momentum, lr) pair of a grid, a :class:`Setting`, refined once by a grid of
    ``zoom`` values per axis across the best point's neighbours (the rate changes sharply there)."""
    best = Setting(math.nan, math.nan, math.inf)
    for _ in range(2):
        rates = measured_rate(descend_grid(problem, steps, lrs, momenta, **options)[0])
        m, i = divmod(int(torch.argmin(rates)), len(lrs))
        if float(rates[m, i]) < best.rate:
            best = Setting(lrs[i], momenta[m], float(rates[m, i]))
        lrs = torch.logspace(*(math.log10(lrs[j]) for j in _neighbours(lrs, i)), zoom).tolist()
        momenta = torch.linspace(*(momenta[j] for j in _neighbours(momenta, m)), zoom).tolist()
    return best


def _neighbours(values: list[float], i: int) -> tuple[int, int]:
    return max(i - 1, 0), min(i + 1, len(values) - 1)


def theory_setting(method: str, largest: float, smallest: float) -> Setting:
    """Theory's parameters and rate for ``gd`` (the optimal step), ``momentum`` (Polyak's optimal
    heavy ball) or ``nesterov`` (step 1/L, momentum (sqrt(kappa) - 1) / (sqrt(kappa) + 1))."""
    kappa = largest / smallest
    root = math.sqrt(kappa)
    if method == "gd":
        return Setting(2 / (largest + smallest), 0.0, (kappa - 1) / (kappa + 1))
    if method == "momentum":
        rate = (root - 1) / (root + 1)
        return Setting(4 / (math.sqrt(largest) + math.sqrt(smallest)) ** 2, rate**2, rate)
    return Setting(1 / largest, (root - 1) / (root + 1), 1 - 1 / root)


def observed_regime(problem: Quadratic, iterates: Tensor) -> str:
    """What a run did: the top coordinate grew (diverging), some reliable coordinate changed sign
    (oscillating), or neither (monotone)."""
    coordinates = iterates @ problem.eigenvectors  # along each eigenvector, (steps + 1, dim)
    top = coordinates[:, -1].abs()
    if not torch.isfinite(top[-1]) or top[-1] > top[0]:
        return "diverging"
    reliable = coordinates.abs() > ROUNDING * float(iterates[0].norm())
    flipped = ((coordinates[1:] * coordinates[:1] < 0) & reliable[1:]).any()
    return "oscillating" if flipped else "monotone"


def momentum_step_gap(
    pytorch: Tensor, sutskever: Tensor, lrs: tuple[float, float], momentum: float, at: int
) -> tuple[float, float]:
    """The gap between the two rules' iterates one step after the learning rate changes from
    ``lrs[0]`` to ``lrs[1]`` at step ``at``: PyTorch's rule rescales its whole velocity at once,
    Sutskever's keeps the old steps at the old rate, so PyTorch's iterate minus Sutskever's is
    ``(lr_a - lr_b) momentum v``, ``v = (x_{at-1} - x_at) / lr_a`` the velocity before the change.
    Returns ``(||measured gap||, ||measured - predicted||)``."""
    velocity = (pytorch[at - 1] - pytorch[at]) / lrs[0]
    measured = pytorch[at + 1] - sutskever[at + 1]
    predicted = (lrs[0] - lrs[1]) * momentum * velocity
    return float(measured.norm()), float((measured - predicted).norm())


@dataclass(frozen=True)
class QuadraticSettings:
    """The quadratic part: the step-size panels' problem (``condition``, ``dim``), ``steps`` per
    run at ``lr_ratios`` and ``sweep`` (units of 1/L); the rates at ``rate_conditions`` after
    ``rate_steps`` on ``rate_lrs`` x ``rate_momenta``, refined by ``zoom`` values per axis; the
    momentum rules at ``rule_lr`` (1/L) and ``rule_momentum``, the lr multiplied by
    ``rule_change[1]`` from step ``rule_change[0]``; the rotations' ``seed``."""

    condition: float = 100.0
    dim: int = 50
    steps: int = 100
    lr_ratios: tuple[float, ...] = (0.5, 1.0, 1.5, 1.95, 2.05)
    sweep: tuple[float, ...] = tuple(0.05 * 1.08**i for i in range(52))
    rate_conditions: tuple[float, ...] = (10.0, 100.0, 1000.0)
    rate_steps: int = 400
    rate_lrs: tuple[float, ...] = tuple(0.1 * 1.1**i for i in range(41))
    rate_momenta: tuple[float, ...] = tuple(1 - 0.9 * 0.7**i for i in range(13))
    zoom: int = 9
    rule_lr: float = 0.5
    rule_momentum: float = 0.9
    rule_change: tuple[int, float] = (30, 0.1)
    seed: int = 0


QUICK = QuadraticSettings(
    steps=60, sweep=tuple(0.05 * 1.22**i for i in range(21)), rate_conditions=(10.0, 100.0),
    rate_steps=200, rate_lrs=tuple(0.1 * 1.25**i for i in range(18)), zoom=5,
    rate_momenta=tuple(1 - 0.9 * 0.6**i for i in range(7)),
)  # fmt: skip


def _step_sizes(problem: Quadratic, settings: QuadraticSettings, checks: list) -> dict[str, Any]:
    """Gradient descent at each step size shown and around 2/L, against theory's regimes."""
    big, curves = problem.largest, {}
    for ratio in settings.lr_ratios:
        iterates = descend(problem, settings.steps, ratio / big)
        values = problem.value(iterates)
        top = iterates @ problem.eigenvectors[:, -1]
        curves[f"{ratio:g}/L"] = {"f": values.tolist(), "top": top.tolist()}
        expected = "monotone" if ratio <= 1 else "oscillating" if ratio < 2 else "diverging"
        seen = observed_regime(problem, iterates)
        checks.append(check(f"lr = {ratio:g}/L is {expected}", seen == expected, f"saw {seen}"))
        if ratio < 2:
            decreasing = bool((values[1:] <= values[:-1]).all())
            checks.append(check(f"f decreases every step at lr = {ratio:g}/L", decreasing))
    for sign, expected in ((-1, "oscillating"), (1, "diverging")):
        lr = 2 / big * (1 + sign * MARGIN)
        seen = observed_regime(problem, descend(problem, settings.steps, lr))
        statement = f"lr = 2/L * (1 {'+' if sign > 0 else '-'} {MARGIN:g}) is {expected}"
        checks.append(check(statement, seen == expected, f"saw {seen}"))
    lrs = [ratio / big for ratio in settings.sweep]
    final = descend_grid(problem, settings.steps, lrs, [0.0])[1][-1, 0].tolist()
    return {"curves": curves, "sweep": [{"lr": lr, "f": f} for lr, f in zip(lrs, final)]}


def _rules(problem: Quadratic, settings: QuadraticSettings, checks: list) -> dict[str, list]:
    """The two momentum rules at a constant learning rate and after a change of it."""
    lr, momentum = settings.rule_lr / problem.largest, settings.rule_momentum
    at, factor = settings.rule_change
    schedules = {"constant": lambda t: 1.0, "changed": lambda t: factor if t >= at else 1.0}
    runs = {
        f"{style}, {name}": descend(problem, 3 * at, lr, f, momentum=momentum, momentum_style=style)
        for style in ("pytorch", "sutskever")
        for name, f in schedules.items()
    }
    gap = float((runs["pytorch, constant"] - runs["sutskever, constant"]).abs().max())
    scale = float(runs["pytorch, constant"].abs().max())
    statement = "both momentum rules give the same iterates at a constant lr"
    checks.append(check(statement, gap <= 1e-12 * scale, f"largest difference {gap:.2e}"))
    measured, error = momentum_step_gap(
        runs["pytorch, changed"], runs["sutskever, changed"], (lr, lr * factor), momentum, at
    )
    statement = "after an lr change the rules differ by (lr_a - lr_b) * momentum * v next step"
    detail = f"difference {measured:.3e}, off the prediction by {error:.1e}"
    checks.append(check(statement, measured > 0 and error <= 1e-9 * measured, detail))
    return {name: problem.value(iterates).tolist() for name, iterates in runs.items()}


def _rates(settings: QuadraticSettings) -> list[dict[str, Any]]:
    """Per condition number and method: the best setting on the grid or theory's (whichever
    measures faster), and theory's setting, its rate and the rate measured there."""
    rows = []
    jobs = [(c, m) for c in settings.rate_conditions for m in METHODS]
    for condition, method in tqdm(jobs, desc="rates", leave=False):
        problem = make_quadratic(condition, settings.dim, settings.seed)
        big, small = problem.largest, problem.smallest
        options, momenta = METHODS[method], [0.0] if method == "gd" else list(settings.rate_momenta)
        lrs = [ratio / big for ratio in settings.rate_lrs]
        grid = best_setting(problem, settings.rate_steps, lrs, momenta, settings.zoom, **options)
        theory = theory_setting(method, big, small)
        runs = descend_grid(problem, settings.rate_steps, [theory.lr], [theory.momentum], **options)
        at_theory = float(measured_rate(runs[0]).reshape(-1)[0])
        best = grid if grid.rate <= at_theory else theory._replace(rate=at_theory)
        values = (condition, method, best.lr * big, best.momentum, best.rate)
        values += ("grid" if best is grid else "theory", theory.lr * big, *theory[1:], at_theory)
        rows.append(dict(zip(RATE_KEYS, values)))
    return rows


def run_quadratic(settings: QuadraticSettings) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The quadratic part: its results (JSON-ready) and its theory checks."""
    problem, checks = make_quadratic(settings.condition, settings.dim, settings.seed), []
    big, small = problem.largest, problem.smallest
    content = {"largest_eigenvalue": big, "smallest_eigenvalue": small, "one_over_L": 1 / big}
    content |= {"two_over_L": 2 / big, **_step_sizes(problem, settings, checks)}
    content["momentum_rules"] = _rules(problem, settings, checks)
    content["rates"] = _rates(settings)
    return content, checks


def quadratic_figure(content: dict[str, Any], settings: QuadraticSettings) -> Figure:
    """f per step, the top coordinate, f after the run by step size; the best rate and step size
    by condition number against theory; the two momentum rules around an lr change."""
    figure = Figure(figsize=(15, 8.5), layout="constrained")
    (curves, top, sweep), (rates, steps, rules) = figure.subplots(2, 3)
    for name, curve in content["curves"].items():
        curves.semilogy(curve["f"], label=f"lr = {name}")
        top.plot(curve["top"][:25], marker=".", label=f"lr = {name}")
    curves.set(xlabel="step", ylabel="f(x_t) - f*", ylim=(None, 1e4))
    curves.set_title(f"gradient descent, condition number {settings.condition:g}")
    curves.legend(fontsize=8)
    top.axhline(0, color="grey", lw=0.5)
    top.set(xlabel="step", ylabel="coordinate along the top eigenvector", ylim=(-0.6, 0.6))
    top.set_title("<= 1/L: monotone; 1/L..2/L: overshoots; > 2/L: grows")
    lrs, values = zip(*((point["lr"], point["f"]) for point in content["sweep"]))
    sweep.loglog(lrs, values, marker=".", color="black")
    sweep.set_ylim(min(values) / 3, 1e3 * values[0])  # diverged runs leave the top of the panel
    for x, text in ((content["one_over_L"], "1/L"), (content["two_over_L"], "2/L")):
        sweep.axvline(x, color="tab:red", ls="--", lw=1)
        sweep.text(x, 1e2 * values[0], f" {text}", color="tab:red", va="top")
    sweep.set(xlabel="step size", ylabel=f"f after {settings.steps} steps")
    sweep.set_title("final f by step size; L from the Hessian's eigenvalues")
    for method, label in LABELS.items():
        rows = [row for row in content["rates"] if row["method"] == method]
        conditions = [row["condition"] for row in rows]
        for axes, key, scale in ((rates, "rate", True), (steps, "lr_times_L", False)):
            best = [1 - r[f"best_{key}"] if scale else r[f"best_{key}"] for r in rows]
            theory = [1 - r[f"theory_{key}"] if scale else r[f"theory_{key}"] for r in rows]
            line = axes.loglog(conditions, best, marker="o", label=label)[0]
            axes.plot(conditions, theory, ls="--", color=line.get_color(), alpha=0.6)
    rates.set(xlabel="condition number L/mu", ylabel="1 - rate (error shrinks per step)")
    rates.set_title("best of grid and theory's setting (solid), theory (dashed)")
    rates.legend(fontsize=8)
    steps.axhline(2, color="grey", lw=0.5)
    steps.set(xlabel="condition number L/mu", ylabel="best step size x L", yscale="linear")
    steps.set_title("best step size (solid) and theory's (dashed); grey: 2/L")
    at, factor = settings.rule_change
    for name, values in content["momentum_rules"].items():
        if name != "sutskever, constant":  # the same iterates as PyTorch's (checked)
            label = "both rules, constant lr" if name == "pytorch, constant" else name
            rules.semilogy(values, label=label, ls="--" if "sutskever" in name else "-")
    rules.axvline(at, color="grey", lw=0.5)
    rules.set(xlabel="step", ylabel="f(x_t)")
    rules.set_title(f"momentum rules: lr x {factor:g} at step {at}")
    rules.legend(fontsize=8)
    return figure


def run(size: Scale, data: StudyData, output_dir: Path, quick: bool, **options: Any) -> tuple:
    """Runs both parts (``quick``: smaller; ``options``: ``condition`` and ``dim`` of the problem
    of the step-size panels, a loaded ``checkpoint`` whose weights give the line), writes
    ``FILES`` (``output_dir`` checked beforehand); returns the printed summary and the checks."""
    settings = QUICK if quick else QuadraticSettings()
    settings = replace(settings, condition=options["condition"], dim=options["dim"])
    quadratic, checks = run_quadratic(settings)
    small = landscape.QUICK if quick else {}
    line_settings = landscape.LineSettings(size.run(len(data.train)), chans=size.chans, **small)
    network, line_figure = landscape.measure(line_settings, data, options.get("checkpoint"))
    content = {"study": "step-size", "quadratic": quadratic, "checks": checks}
    content |= {"network": network, "settings": {"quadratic": asdict(settings)}}
    content["settings"]["network"] = asdict(line_settings) | harness.UNET
    rates = (quadratic["rates"], RATE_KEYS)
    figures = quadratic_figure(quadratic, settings), line_figure
    wrote = harness.write_files(output_dir, FILES, content, rates, *figures)
    text = [
        f"quadratic: L = {quadratic['largest_eigenvalue']:.4g}, mu = "
        f"{quadratic['smallest_eigenvalue']:.4g}, 1/L = {quadratic['one_over_L']:.4g}, 2/L = "
        f"{quadratic['two_over_L']:.4g}",
        harness.format_checks(checks),
        "rate (error shrink per step): the best of the grid and theory's setting, and theory's:",
        harness.table(quadratic["rates"], RATES),
        *landscape.summary(network),
        *wrote,
    ]
    return "\n".join(text), checks
