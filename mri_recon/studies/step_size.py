"""The step-size study: gradient descent and momentum on a quadratic, then on the U-Net's loss.

Part one runs ``mri_recon.optim.SGD`` on quadratics (:mod:`mri_recon.studies.quadratic`):
gradient descent at step sizes around ``1/L`` and ``2/L``, the thresholds computed from the
Hessian's eigenvalues; the best step size and rate of gradient descent, heavy-ball momentum
(both of ``SGD``'s momentum rules) and Nesterov over a range of condition numbers, against
theory; and the two momentum rules at a constant and a changing learning rate. Each statement
theory makes is checked (:attr:`QuadraticResults.checks`).

Part two measures the U-Net's L1 loss along the gradient through trained weights
(:mod:`mri_recon.studies.landscape`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from mri_recon.studies.output import check
from mri_recon.studies.quadratic import (
    Quadratic,
    best_setting,
    descend,
    descend_grid,
    make_quadratic,
    measured_rate,
)
from mri_recon.studies.quadratic_theory import (
    gd_regime,
    momentum_step_gap,
    observed_regime,
    theory_setting,
)

# The methods compared over condition numbers: (name, theory's method, SGD options).
RATE_METHODS = (
    ("gd", "gd", {}),
    ("momentum", "heavy-ball", {}),
    ("sutskever", "heavy-ball", {"momentum_style": "sutskever"}),
    ("nesterov", "nesterov", {"nesterov": True}),
)
THRESHOLD_MARGIN = 1e-3  # step sizes 2/L * (1 -+ margin) must converge / diverge


@dataclass(frozen=True)
class QuadraticSettings:
    """The quadratic part's settings.

    Attributes:
        condition: condition number of the problem of the step-size panels.
        dim: the dimension of every problem.
        steps: steps of each gradient-descent run.
        lr_ratios: step sizes of the curves shown, in units of 1/L.
        sweep: step sizes of the final-value sweep, in units of 1/L.
        rate_conditions: condition numbers of the best-rate comparison.
        rate_steps: steps of each run of the comparison.
        rate_lrs: step sizes tried there, in units of 1/L.
        rate_momenta: momentum values tried there.
        zoom: values per axis of the refined grid around the best one.
        rule_lr: step size of the momentum-rule comparison, in units of 1/L.
        rule_momentum: its momentum.
        rule_change: ``(step, factor)``: from that step on the learning rate is multiplied by
            factor.
        seed: seeds the problems' rotations.
    """

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


@dataclass
class QuadraticResults:
    """What the quadratic part measured.

    Attributes:
        largest: ``L`` of the panels' problem (its largest Hessian eigenvalue).
        smallest: ``mu``.
        curves: per step-size ratio, ``f(x_t)`` and the coordinate along the top eigenvector.
        sweep: ``(lr, f after the run)`` pairs.
        rates: one row per (condition number, method): best and theory settings and rates.
        rules: the momentum-rule comparison's ``f`` curves by run name.
        checks: each statement of theory and whether the runs bear it out.
    """

    largest: float
    smallest: float
    curves: dict[float, dict[str, list[float]]] = field(default_factory=dict)
    sweep: list[tuple[float, float]] = field(default_factory=list)
    rates: list[dict[str, Any]] = field(default_factory=list)
    rules: dict[str, list[float]] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)

    def check(self, statement: str, passed: bool, detail: str = "") -> None:
        """Records one theory check.

        Args:
            statement: what theory says.
            passed: whether the runs bear it out.
            detail: the numbers behind the verdict.
        """
        self.checks.append(check(statement, passed, detail))


def _step_size_checks(problem: Quadratic, settings: QuadraticSettings, out: QuadraticResults):
    """Regimes of gradient descent at each step size shown, and the threshold 2/L."""
    top = problem.eigenvectors[:, -1]
    for ratio in settings.lr_ratios:
        lr = ratio / problem.largest
        iterates = descend(problem, settings.steps, lr)
        values = problem.value(iterates)
        out.curves[ratio] = {"f": values.tolist(), "top": (iterates @ top).tolist()}
        expected, seen = gd_regime(lr, problem.largest), observed_regime(problem, iterates)
        out.check(f"lr = {ratio:g}/L is {expected}", seen == expected, f"observed: {seen}")
        if ratio < 2:
            decreasing = bool((values[1:] <= values[:-1]).all())
            out.check(f"f decreases every step at lr = {ratio:g}/L", decreasing)
    for sign, expected in ((-1, "oscillating"), (1, "diverging")):
        lr = 2 / problem.largest * (1 + sign * THRESHOLD_MARGIN)
        seen = observed_regime(problem, descend(problem, settings.steps, lr))
        statement = f"lr = 2/L * (1 {'+' if sign > 0 else '-'} {THRESHOLD_MARGIN:g}) is {expected}"
        out.check(statement, seen == expected, f"observed: {seen}")
    lrs = [ratio / problem.largest for ratio in settings.sweep]
    final = descend_grid(problem, settings.steps, lrs, [0.0]).values[-1, 0]
    out.sweep = list(zip(lrs, final.tolist()))


def _rate_rows(settings: QuadraticSettings, out: QuadraticResults) -> None:
    """Best step size, momentum and rate per method and condition number, against theory."""
    jobs = [(c, m) for c in settings.rate_conditions for m in RATE_METHODS]
    for condition, (name, theory_name, options) in tqdm(jobs, desc="rates", leave=False):
        problem = make_quadratic(condition, settings.dim, settings.seed)
        big, small = problem.largest, problem.smallest
        lrs = [ratio / big for ratio in settings.rate_lrs]
        momenta = [0.0] if name == "gd" else list(settings.rate_momenta)
        best = best_setting(problem, settings.rate_steps, lrs, momenta, settings.zoom, **options)
        theory = theory_setting(theory_name, big, small)
        at_theory = measured_rate(
            descend_grid(
                problem, settings.rate_steps, [theory.lr], [theory.momentum], **options
            ).norms
        )
        out.rates.append(
            {
                "condition": condition,
                "method": name,
                "best_lr_times_L": best.lr * big,
                "best_momentum": best.momentum,
                "best_rate": best.rate,
                "theory_lr_times_L": theory.lr * big,
                "theory_momentum": theory.momentum,
                "theory_rate": theory.rate,
                "rate_at_theory_setting": float(at_theory.reshape(-1)[0]),
            }
        )


def _rule_checks(problem: Quadratic, settings: QuadraticSettings, out: QuadraticResults):
    """The two momentum rules at a constant learning rate, and after a change of it."""
    lr, momentum = settings.rule_lr / problem.largest, settings.rule_momentum
    at, factor = settings.rule_change
    steps = 3 * at

    def change(step: int) -> float:
        return factor if step >= at else 1.0

    runs = {}
    for style in ("pytorch", "sutskever"):
        for name, schedule in (("constant", lambda step: 1.0), ("changed", change)):
            runs[f"{style}, {name}"] = descend(
                problem, steps, lr, schedule, momentum=momentum, momentum_style=style
            )
    out.rules = {name: problem.value(iterates).tolist() for name, iterates in runs.items()}
    gap = float((runs["pytorch, constant"] - runs["sutskever, constant"]).abs().max())
    scale = float(runs["pytorch, constant"].abs().max())
    out.check(
        "both momentum rules give the same iterates at a constant lr",
        gap <= 1e-12 * scale,
        f"largest difference {gap:.2e}",
    )
    measured, error = momentum_step_gap(
        runs["pytorch, changed"], runs["sutskever, changed"], (lr, lr * factor), momentum, at
    )
    out.check(
        "after an lr change the rules differ by (lr_a - lr_b) * momentum * v on the next step",
        measured > 0 and error <= 1e-9 * measured,
        f"difference {measured:.3e}, off the prediction by {error:.1e}",
    )


def run_quadratic(settings: QuadraticSettings) -> QuadraticResults:
    """Runs the quadratic part.

    Args:
        settings: the settings.

    Returns:
        Curves, sweeps, rates and checks.
    """
    problem = make_quadratic(settings.condition, settings.dim, settings.seed)
    out = QuadraticResults(largest=problem.largest, smallest=problem.smallest)
    _step_size_checks(problem, settings, out)
    _rule_checks(problem, settings, out)
    _rate_rows(settings, out)
    for row in out.rates:
        if row["method"] == "sutskever":
            twin = next(
                r
                for r in out.rates
                if r["method"] == "momentum" and r["condition"] == row["condition"]
            )
            out.check(
                f"both momentum rules find the same best rate at condition {row['condition']:g}",
                math.isclose(row["best_rate"], twin["best_rate"], rel_tol=1e-9),
                f"{row['best_rate']:.6f} and {twin['best_rate']:.6f}",
            )
    return out
