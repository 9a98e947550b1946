"""What theory says about gradient descent and momentum on a quadratic, and what a run did.

See :mod:`mri_recon.studies.quadratic` for the problem and the thresholds; here are the optimal
settings and rates of each method, the regime theory predicts for a gradient-descent step size
and the one a run shows, and the gap between ``SGD``'s two momentum rules after a change of the
learning rate.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from mri_recon.studies.quadratic import Quadratic, Setting


def theory_setting(method: str, largest: float, smallest: float) -> Setting:
    """The optimal (or standard) parameters and rate of a method on a quadratic.

    Args:
        method: ``gd`` (optimal step), ``heavy-ball`` (Polyak's optimal step and momentum) or
            ``nesterov`` (step 1/L and momentum (sqrt(kappa) - 1) / (sqrt(kappa) + 1)).
        largest: ``L``.
        smallest: ``mu``.

    Returns:
        The parameters and the asymptotic rate theory gives for them.
    """
    root = math.sqrt(largest / smallest)
    if method == "gd":
        kappa = largest / smallest
        return Setting(2 / (largest + smallest), 0.0, (kappa - 1) / (kappa + 1))
    if method == "heavy-ball":
        rate = (root - 1) / (root + 1)
        return Setting(4 / (math.sqrt(largest) + math.sqrt(smallest)) ** 2, rate**2, rate)
    if method == "nesterov":
        return Setting(1 / largest, (root - 1) / (root + 1), 1 - 1 / root)
    raise ValueError(f"method must be gd, heavy-ball or nesterov, got {method!r}")


ROUNDING = 1e-9


def gd_regime(lr: float, largest: float) -> str:
    """What theory says gradient descent does.

    Args:
        lr: the step size (not exactly 2/L, where the top coordinate neither grows nor shrinks).
        largest: ``L``.

    Returns:
        ``"monotone"``, ``"oscillating"`` or ``"diverging"``.
    """
    if lr <= 1 / largest:
        return "monotone"
    return "oscillating" if lr < 2 / largest else "diverging"


def observed_regime(problem: Quadratic, iterates: Tensor) -> str:
    """What a gradient-descent run did: the top coordinate grew, some coordinate changed sign,
    or neither.

    A coordinate smaller than ``ROUNDING`` times the start's norm has no reliable sign (at
    ``lr = 1/L`` the top one is rounding noise after one step), so it does not count as a change.

    Args:
        problem: the quadratic.
        iterates: the run's iterates, (steps + 1, dim).

    Returns:
        ``"monotone"``, ``"oscillating"`` or ``"diverging"``.
    """
    coordinates = iterates @ problem.eigenvectors  # along each eigenvector, (steps + 1, dim)
    top = coordinates[:, -1].abs()
    if not torch.isfinite(top[-1]) or top[-1] > top[0]:
        return "diverging"
    reliable = coordinates.abs() > ROUNDING * float(iterates[0].norm())
    flipped = ((coordinates[1:] * coordinates[:1] < 0) & reliable[1:]).any()
    return "oscillating" if flipped else "monotone"


def momentum_step_gap(
    iterates_pt: Tensor, iterates_sut: Tensor, lrs: tuple, momentum: float, at: int
) -> tuple[float, float]:
    """Measured and predicted gap between the two momentum rules right after a learning-rate change.

    Both runs share their iterates up to step ``at``, where the rate changes from ``lrs[0]``
    to ``lrs[1]``. PyTorch's rule rescales its whole velocity at once, Sutskever's keeps the
    old contributions at the old rate, so after the first new step the PyTorch iterate minus
    the Sutskever one is ``(lr_a - lr_b) * momentum * v``, ``v`` the PyTorch velocity before
    the change, ``v = (x_{at-1} - x_at) / lr_a``.

    Args:
        iterates_pt: the PyTorch-style run's iterates, (steps + 1, dim).
        iterates_sut: the Sutskever-style run's iterates.
        lrs: ``(lr_a, lr_b)``.
        momentum: the momentum factor.
        at: the first step taken with ``lr_b`` (>= 1).

    Returns:
        ``(||measured gap||, ||measured gap - predicted gap||)``.
    """
    lr_a, lr_b = lrs
    velocity = (iterates_pt[at - 1] - iterates_pt[at]) / lr_a
    predicted = (lr_a - lr_b) * momentum * velocity
    measured = iterates_pt[at + 1] - iterates_sut[at + 1]
    return float(measured.norm()), float((measured - predicted).norm())
