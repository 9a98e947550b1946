"""The U-Net's loss along the gradient through trained weights, against the quadratic model.

Near weights ``w`` with gradient ``g`` and Hessian ``H``, a gradient step of size ``lr`` gives

    loss(w - lr g) ~ loss(w) - lr ||g||^2 + lr^2 / 2 * g^T H g,

a parabola in ``lr`` with its minimum at ``lr* = ||g||^2 / g^T H g = 1 / c`` (``c`` the
curvature along ``g``) and back at ``loss(w)`` at ``2 / c``. Since ``c`` is at most the largest
eigenvalue ``L`` of ``H``, every step below ``2 / L`` decreases the loss in this model, the
quadratic picture of the step-size study. Here the real loss is measured along that line and
set against the model, with ``c`` and ``L`` estimated from Hessian-vector products.

The project's convolutions supply their own first derivative only (a hand-written backward
that is not itself differentiable), so Hessian-vector products are differences of gradients,
``H v ~ (grad(w + eps v) - grad(w)) / eps``, computed in float64; ``L`` comes from power
iteration on them.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from tqdm import tqdm

from mri_recon.studies.data import Slices
from mri_recon.studies.loop import batch_loss

EPS = 1e-4  # relative size of the finite-difference step, ||eps v|| / ||w||


@dataclass
class Line:
    """The loss along ``w - lr g`` and what the quadratic model predicts.

    Attributes:
        lrs: the step sizes along the negative gradient (negative: uphill).
        losses: the measured loss at each step size.
        model: the quadratic model's loss at each step size.
        loss: the loss at the weights.
        grad_norm: ``||g||``.
        curvature: ``c = g^T H g / ||g||^2``.
        sharpness: ``L``, the largest Hessian eigenvalue (power iteration).
        measured_min: the step size of the smallest measured loss, refined by the parabola
            through it and its two neighbours.
        measured_crossing: the smallest positive step size where the measured loss is back up
            at ``loss`` (linear interpolation), or None within the range.
    """

    lrs: list[float]
    losses: list[float]
    model: list[float]
    loss: float
    grad_norm: float
    curvature: float
    sharpness: float
    measured_min: float
    measured_crossing: float | None


class LineProbe:
    """The mean L1 loss and its gradient on a fixed batch, as functions of flat weights.

    Args:
        net: the network (copied, in float64, eval mode: dropout off, running statistics used).
        slices: the slices the loss is taken over.
        batch_size: slices per forward pass.
    """

    def __init__(self, net: nn.Module, slices: Slices, batch_size: int) -> None:
        self.net = copy.deepcopy(net).double().eval()
        self.params = [p for p in self.net.parameters() if p.requires_grad]
        self.slices, self.batch_size = slices.to(torch.float64), batch_size
        self.weights = self.flat([p.detach() for p in self.params])

    @staticmethod
    def flat(tensors: list[Tensor]) -> Tensor:
        """Flattens tensors.

        Args:
            tensors: tensors of any shapes.

        Returns:
            Their values concatenated into one vector.
        """
        return torch.cat([t.reshape(-1) for t in tensors])

    @contextmanager
    def moved(self, delta: Tensor) -> Iterator[None]:
        """Shifts the weights for the duration of the block.

        Args:
            delta: the shift, flat (as :meth:`flat` orders the weights).

        Yields:
            Nothing; the network holds the shifted weights inside the block.
        """
        offset = 0
        with torch.no_grad():
            for p in self.params:
                p.add_(delta[offset : offset + p.numel()].view_as(p))
                offset += p.numel()
        try:
            yield
        finally:
            with torch.no_grad():
                for p, w in zip(self.params, self._split(self.weights)):
                    p.copy_(w)

    def _split(self, flat: Tensor) -> list[Tensor]:
        sizes = [p.numel() for p in self.params]
        return [chunk.view_as(p) for chunk, p in zip(flat.split(sizes), self.params)]

    def _batches(self) -> list[Tensor]:
        return list(torch.arange(len(self.slices)).split(self.batch_size))

    def loss(self, delta: Tensor) -> float:
        """The loss near the weights.

        Args:
            delta: a flat shift of the weights.

        Returns:
            The mean L1 loss at ``weights + delta``.
        """
        total = pixels = 0.0
        with self.moved(delta), torch.no_grad():
            for index in self._batches():
                loss_sum, _, count = batch_loss(self.net, self.slices, index, True)
                total, pixels = total + loss_sum.item(), pixels + count
        return total / pixels

    def gradient(self, delta: Tensor) -> Tensor:
        """The gradient near the weights.

        Args:
            delta: a flat shift of the weights.

        Returns:
            The gradient of the mean L1 loss at ``weights + delta``, flat.
        """
        grads = [torch.zeros_like(p) for p in self.params]
        pixels = self.slices.images[0].numel() * len(self.slices)
        with self.moved(delta):
            for index in self._batches():
                loss_sum, _, _ = batch_loss(self.net, self.slices, index, True)
                for total, g in zip(grads, torch.autograd.grad(loss_sum / pixels, self.params)):
                    total += g
        return self.flat(grads)

    def hessian_vector(self, vector: Tensor, grad: Tensor) -> Tensor:
        """A Hessian-vector product by a forward difference of gradients.

        Args:
            vector: ``v``, flat.
            grad: the gradient at the weights.

        Returns:
            ``H v ~ (grad(w + eps v) - grad(w)) / eps``, ``eps`` relative to the weights' norm.
        """
        eps = EPS * float(self.weights.norm()) / float(vector.norm())
        return (self.gradient(eps * vector) - grad) / eps


def largest_eigenvalue(probe: LineProbe, grad: Tensor, iterations: int, seed: int = 0) -> float:
    """The Hessian's largest eigenvalue by power iteration from a random start.

    Args:
        probe: the loss.
        grad: the gradient at the weights.
        iterations: Hessian-vector products to spend.
        seed: seeds the start vector.

    Returns:
        The Rayleigh quotient ``v^T H v`` of the last unit vector ``v``.
    """
    gen = torch.Generator().manual_seed(seed)
    vector = torch.randn(grad.shape, generator=gen, dtype=grad.dtype)
    vector /= vector.norm()
    estimate = 0.0
    for _ in tqdm(range(iterations), desc="power iteration", leave=False):
        product = probe.hessian_vector(vector, grad)
        estimate = float(vector @ product)
        vector = product / product.norm()
    return estimate


def loss_line(probe: LineProbe, iterations: int, points: int) -> Line:
    """Measures the loss along the negative gradient and the quadratic model of it.

    The step sizes run from ``-1/c`` to ``3/c`` (``c`` the curvature along the gradient), so the
    line shows the model's minimum ``1/c`` and its return to the start's loss at ``2/c``.

    Args:
        probe: the loss at the trained weights.
        iterations: power-iteration steps for the largest eigenvalue.
        points: step sizes along the line.

    Returns:
        The line.
    """
    grad = probe.gradient(torch.zeros_like(probe.weights))
    loss0, grad_sq = probe.loss(torch.zeros_like(grad)), float(grad @ grad)
    curvature = float(grad @ probe.hessian_vector(grad, grad)) / grad_sq
    sharpness = largest_eigenvalue(probe, grad, iterations)
    if not curvature > 0:
        raise ValueError(
            f"checkpoint: the loss curves down along the gradient (curvature {curvature:.3g}), "
            "so the weights are not near a minimum"
        )
    # In double precision, from -1 to 3 in units of 1/c: with points = 4k + 1 the line passes
    # exactly through the weights (step size 0), whatever c is.
    lrs = [(-1 + 4 * i / (points - 1)) / curvature for i in range(points)]
    losses = [probe.loss(-lr * grad) for lr in tqdm(lrs, desc="loss along the line", leave=False)]
    model = [loss0 - lr * grad_sq + lr**2 / 2 * curvature * grad_sq for lr in lrs]
    best = min(range(points), key=losses.__getitem__)
    return Line(
        lrs=lrs,
        losses=losses,
        model=model,
        loss=loss0,
        grad_norm=math.sqrt(grad_sq),
        curvature=curvature,
        sharpness=sharpness,
        measured_min=_vertex(lrs, losses, best),
        measured_crossing=_crossing(lrs, losses, loss0, best),
    )


def _vertex(lrs: list[float], losses: list[float], best: int) -> float:
    """The minimum of the parabola through the smallest loss and its neighbours (the grid point
    itself at either end of the line)."""
    if best in (0, len(lrs) - 1):
        return lrs[best]
    (x0, x1, x2), (y0, y1, y2) = lrs[best - 1 : best + 2], losses[best - 1 : best + 2]
    numerator = (x1 - x0) ** 2 * (y1 - y2) - (x1 - x2) ** 2 * (y1 - y0)
    denominator = (x1 - x0) * (y1 - y2) - (x1 - x2) * (y1 - y0)
    return x1 - 0.5 * numerator / denominator


def _crossing(lrs: list[float], losses: list[float], level: float, start: int) -> float | None:
    """The first step size after ``start`` where ``losses`` climbs back to ``level``."""
    for i in range(max(start, 1), len(lrs)):
        if losses[i] >= level and lrs[i - 1] > 0:
            fraction = (level - losses[i - 1]) / (losses[i] - losses[i - 1])
            return lrs[i - 1] + fraction * (lrs[i] - lrs[i - 1])
    return None
