"""Gradient descent and momentum on a quadratic with a known Hessian, by ``mri_recon.optim.SGD``.

On ``f(x) = x^T A x / 2`` (minimum 0 at x = 0) with the eigenvalues of ``A`` between ``mu`` and
``L``, gradient descent with step ``lr`` multiplies the error along an eigenvector of eigenvalue
``lam`` by ``1 - lr * lam`` per step. So, with ``L`` the largest eigenvalue:

- ``lr <= 1/L``: every factor lies in [0, 1): each coordinate shrinks without changing sign
  (monotone convergence; at ``lr = 1/L`` the top coordinate vanishes in one step);
- ``1/L < lr < 2/L``: the top factor lies in (-1, 0): the iterate overshoots and oscillates
  around the minimum, but still converges; ``f`` still decreases every step;
- ``lr > 2/L``: the top factor is below -1: the iterate and ``f`` grow without bound.

The best constant step, ``2 / (L + mu)``, gives the rate ``(kappa - 1) / (kappa + 1)`` with
``kappa = L / mu``. Heavy-ball momentum with ``lr = 4 / (sqrt(L) + sqrt(mu))^2`` and
``momentum = ((sqrt(kappa) - 1) / (sqrt(kappa) + 1))^2`` reaches ``(sqrt(kappa) - 1) /
(sqrt(kappa) + 1)``, and Nesterov's method with ``lr = 1/L`` and ``momentum = (sqrt(kappa) - 1)
/ (sqrt(kappa) + 1)`` reaches ``1 - 1/sqrt(kappa)`` (Polyak 1964; Nesterov 1983).

Grids of settings run in one optimizer: a step of size ``lr`` on ``f`` is a step of size 1 on
``lr * f`` for every update rule here (at a constant step size the velocity absorbs the
factor), so row ``r`` of one parameter minimises ``lrs[r] * f`` with ``lr=1`` and a single
``SGD.step`` advances all step sizes at once; each momentum value is one param group.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from mri_recon.optim import SGD

FLOOR = 1e-100  # errors below this are too close to float64's underflow to measure a rate on


@dataclass(frozen=True)
class Quadratic:
    """``f(x) = x^T A x / 2`` with ``A = Q diag(eigenvalues) Q^T``, in float64.

    Attributes:
        hessian: ``A``, (dim, dim).
        eigenvalues: ascending, (dim,), computed from ``hessian``.
        eigenvectors: the columns of ``Q``, (dim, dim), matching ``eigenvalues``.
        start: the starting point, with equal weight on every eigenvector, (dim,).
    """

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

    @property
    def condition(self) -> float:
        """``kappa = L / mu``."""
        return self.largest / self.smallest

    def value(self, x: Tensor) -> Tensor:
        """The function's value.

        Args:
            x: points, (..., dim).

        Returns:
            ``f`` of each, (...).
        """
        return 0.5 * ((x @ self.hessian) * x).sum(-1)


def make_quadratic(condition: float, dim: int, seed: int = 0) -> Quadratic:
    """A quadratic with eigenvalues spread geometrically over [1, condition], randomly rotated.

    Args:
        condition: the condition number ``L / mu`` (>= 1).
        dim: the dimension (>= 2).
        seed: seeds the rotation.

    Returns:
        The problem; its eigenvalues are recomputed from the Hessian, not copied.
    """
    if not condition >= 1:
        raise ValueError(f"condition-number: must be >= 1, got {condition}")
    if dim < 2:
        raise ValueError(f"dim: must be >= 2, got {dim}")
    gen = torch.Generator().manual_seed(seed)
    rotation, _ = torch.linalg.qr(torch.randn(dim, dim, generator=gen, dtype=torch.float64))
    spectrum = torch.logspace(0, math.log10(condition), dim, dtype=torch.float64)
    hessian = rotation @ torch.diag(spectrum) @ rotation.T
    hessian = (hessian + hessian.T) / 2
    eigenvalues, eigenvectors = torch.linalg.eigh(hessian)
    start = eigenvectors.sum(1) / math.sqrt(dim)
    return Quadratic(hessian, eigenvalues, eigenvectors, start)


def descend(
    problem: Quadratic,
    steps: int,
    lr: float,
    lr_factor: Callable[[int], float] = lambda step: 1.0,
    **sgd_options: object,
) -> Tensor:
    """Runs ``mri_recon.optim.SGD`` on ``problem`` from its start point.

    Args:
        problem: the quadratic.
        steps: the number of steps.
        lr: the learning rate.
        lr_factor: the learning rate of step ``t`` (from 0) is ``lr * lr_factor(t)``.
        **sgd_options: further ``SGD`` arguments (momentum, nesterov, momentum_style, ...).

    Returns:
        The iterates ``x_0 ... x_steps``, (steps + 1, dim).
    """
    x = nn.Parameter(problem.start.clone())
    optimizer = SGD([x], lr=lr, **sgd_options)
    iterates = [x.detach().clone()]
    for step in range(steps):
        optimizer.param_groups[0]["lr"] = lr * lr_factor(step)
        optimizer.zero_grad()
        problem.value(x).backward()
        optimizer.step()
        iterates.append(x.detach().clone())
    return torch.stack(iterates)


class GridRun(NamedTuple):
    """Distances to the minimum and values of ``f`` along the runs of a grid.

    Attributes:
        norms: ``||x_t||``, (steps + 1, momenta, lrs); inf once a run has diverged.
        values: ``f(x_t)``, same shape.
    """

    norms: Tensor
    values: Tensor


def descend_grid(
    problem: Quadratic, steps: int, lrs: Sequence[float], momenta: Sequence[float], **sgd_options
) -> GridRun:
    """Runs every (momentum, lr) pair at once (see the module docstring).

    Args:
        problem: the quadratic.
        steps: the number of steps.
        lrs: the learning rates.
        momenta: the momentum values, one param group each.
        **sgd_options: further ``SGD`` arguments (nesterov, momentum_style).

    Returns:
        The runs' distances to the minimum and values of ``f``.
    """
    scales = torch.tensor(list(lrs), dtype=torch.float64)
    rows = [nn.Parameter(problem.start.repeat(len(lrs), 1)) for _ in momenta]
    groups = [{"params": [x], "momentum": m} for x, m in zip(rows, momenta)]
    optimizer = SGD(groups, lr=1.0, momentum=max(momenta), **sgd_options)
    iterates = [torch.stack(rows).detach()]
    for _ in range(steps):
        optimizer.zero_grad()
        sum(problem.value(x) @ scales for x in rows).backward()
        optimizer.step()
        iterates.append(torch.stack(rows).detach())
    norms = torch.stack([x.norm(dim=-1) for x in iterates]).nan_to_num(nan=math.inf)
    values = torch.stack([problem.value(x) for x in iterates]).nan_to_num(nan=math.inf)
    return GridRun(norms, values)


def measured_rate(norms: Tensor) -> Tensor:
    """The per-step contraction of the error over the second half of a run.

    A fast run's error reaches the bottom of float64's range long before the end (and its norm
    then underflows to 0), so each run's window ends at its last error above ``FLOOR``.

    Args:
        norms: distances to the minimum, (steps + 1, ...).

    Returns:
        ``(||x_end|| / ||x_{end/2}||) ** (1 / (end - end/2))`` per run, (...); inf where a run
        diverged.
    """
    end = ((norms > FLOOR).sum(0) - 1).clamp(min=2, max=norms.shape[0] - 1)
    start = end // 2
    last, middle = norms.gather(0, end[None])[0], norms.gather(0, start[None])[0]
    rate = (last / middle) ** (1 / (end - start))
    return torch.where(torch.isfinite(rate), rate, torch.full_like(rate, math.inf))


@dataclass(frozen=True)
class Setting:
    """A step size and momentum, and the convergence rate they give.

    Attributes:
        lr: the learning rate.
        momentum: the momentum factor (0 for gradient descent).
        rate: the error's contraction per step (smaller is faster; >= 1 does not converge).
    """

    lr: float
    momentum: float
    rate: float


def best_setting(
    problem: Quadratic,
    steps: int,
    lrs: Sequence[float],
    momenta: Sequence[float],
    zoom: int = 9,
    **sgd_options: object,
) -> Setting:
    """The fastest (momentum, lr) pair of a grid, refined once around the grid's best.

    Near the optimum the rate changes sharply with the settings, so after the coarse grid a
    second grid of ``zoom`` values per axis spans the best point's neighbours.

    Args:
        problem: the quadratic.
        steps: steps per run.
        lrs: the learning rates to try, ascending.
        momenta: the momentum values to try, ascending.
        zoom: values per axis of the refined grid.
        **sgd_options: further ``SGD`` arguments (nesterov, momentum_style).

    Returns:
        The best pair found and its measured rate.
    """
    best = None
    for _ in range(2):
        rates = measured_rate(descend_grid(problem, steps, lrs, momenta, **sgd_options).norms)
        m, i = divmod(int(torch.argmin(rates)), len(lrs))
        if best is None or float(rates[m, i]) < best.rate:
            best = Setting(float(lrs[i]), float(momenta[m]), float(rates[m, i]))
        lrs = _around(lrs, i, zoom, geometric=True)
        momenta = _around(momenta, m, zoom, geometric=False)
    return best


def _around(values: Sequence[float], i: int, count: int, geometric: bool) -> list[float]:
    """``count`` values spanning the neighbours of ``values[i]`` (``values[i]`` included)."""
    if len(values) == 1:
        return list(values)
    low, high = values[max(i - 1, 0)], values[min(i + 1, len(values) - 1)]
    if geometric:
        return torch.logspace(math.log10(low), math.log10(high), count).tolist()
    return torch.linspace(low, high, count).tolist()
