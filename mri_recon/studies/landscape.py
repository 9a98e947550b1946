"""The step-size study's network part: the U-Net's loss along its gradient against the quadratic
model, at several points of a brief training (or at a checkpoint's weights).

Near weights ``w`` with gradient ``g`` and Hessian ``H``, a gradient step of size ``lr`` gives

    loss(w - lr g) ~ loss(w) - lr ||g||^2 + lr^2 / 2 * g^T H g,

a parabola with its minimum at ``1 / c`` and back at ``loss(w)`` at ``2 / c``, ``c = g^T H g /
||g||^2`` the curvature along ``g``; as ``c <= L``, the largest eigenvalue of ``H``, every step
below ``2 / L`` lowers the loss in this model. Hessian-vector products are float64 differences of
gradients (the project's hand-written backward is not itself differentiable); power iteration on
them finds the eigenvalue of largest *magnitude*, which off a minimum can be a negative one.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from matplotlib.figure import Figure
from torch import Tensor
from torch.func import functional_call
from tqdm import tqdm

from mri_recon.optim import Adam
from mri_recon.studies import harness
from mri_recon.studies.harness import RunSettings, Slices, StudyData

EPS = 1e-4  # the finite-difference step, relative: ||eps v|| = EPS ||w||
QUICK = {"line_slices": 4, "points": 13, "iterations": 5}


@dataclass(frozen=True)
class LineSettings:
    """The brief training (``run``, Adam's ``lr``, ``chans``) when no checkpoint is given, the
    ``fractions`` of its budget where the line is measured, the ``line_slices`` the loss is taken
    over, the ``points`` along the line and the power ``iterations``; ``QUICK`` the fewer."""

    run: RunSettings
    lr: float = 1e-2
    chans: int = 8
    fractions: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
    line_slices: int = 16
    points: int = 33
    iterations: int = 20


class LineProbe:
    """The mean L1 loss of a copy of ``net`` (float64, eval mode) on ``slices``, and its gradient,
    at its weights shifted by a flat ``delta`` (the parameters in ``named_parameters`` order)."""

    def __init__(self, net: torch.nn.Module, slices: Slices, batch_size: int) -> None:
        self.net = copy.deepcopy(net).double().eval()
        named = [(name, p) for name, p in self.net.named_parameters() if p.requires_grad]
        self.names, self.shapes = [n for n, _ in named], [p.shape for _, p in named]
        self.weights = torch.cat([p.detach().reshape(-1) for _, p in named])
        self.slices, self.pixels = slices, slices.images[0].numel() * len(slices)
        self.batches = list(torch.arange(len(slices)).split(batch_size))

    def _loss(self, flat: Tensor, index: Tensor) -> Tensor:
        chunks = flat.split([math.prod(shape) for shape in self.shapes])
        params = {n: c.view(s) for n, c, s in zip(self.names, chunks, self.shapes)}
        net = lambda x: functional_call(self.net, params, (x,))  # noqa: E731
        return harness.batch_loss(net, self.slices, index, True)[0] / self.pixels

    @torch.no_grad()
    def loss(self, delta: Tensor) -> float:
        """The loss at ``weights + delta``."""
        return sum(float(self._loss(self.weights + delta, index)) for index in self.batches)

    def gradient(self, delta: Tensor) -> Tensor:
        """The gradient at ``weights + delta``, flat."""
        flat = (self.weights + delta).requires_grad_()
        return sum(torch.autograd.grad(self._loss(flat, index), flat)[0] for index in self.batches)

    def hessian_vector(self, vector: Tensor, grad: Tensor) -> Tensor:
        """``H v ~ (grad(w + eps v) - grad(w)) / eps`` (``grad``: the gradient at the weights)."""
        eps = EPS * float(self.weights.norm()) / float(vector.norm())
        return (self.gradient(eps * vector) - grad) / eps


def top_eigenvalue(probe: LineProbe, grad: Tensor, iterations: int, seed: int = 0) -> float:
    """The Hessian's eigenvalue of largest magnitude by power iteration from a random start: the
    Rayleigh quotient ``v^T H v`` of the last unit vector ``v`` (its magnitude at most the
    eigenvalue's; negative where that eigenvalue is)."""
    vector = torch.randn(grad.shape, generator=torch.Generator().manual_seed(seed)).double()
    vector /= vector.norm()
    estimate = 0.0
    for _ in tqdm(range(iterations), desc="power iteration", leave=False):
        product = probe.hessian_vector(vector, grad)
        estimate, vector = float(vector @ product), product / product.norm()
    return estimate


@dataclass
class Line:
    """The loss along ``w - lr g`` at step sizes ``lrs`` from -1/|c| to 3/|c|: the measured
    ``losses``, the quadratic ``model``, the ``loss`` and ``grad_norm`` at ``w``, the
    ``curvature`` c along g, the top Hessian eigenvalue (``sharpness``, :func:`top_eigenvalue`;
    None where not measured), the step size of the lowest loss (``measured_min``, refined by the
    parabola through it and its neighbours; None at an end of the range) and the first where the
    loss is back at ``loss`` (``measured_crossing``; None: beyond the range). ``samples``: slice
    gradients of training behind ``w`` (None: a checkpoint's)."""

    samples: int | None
    lrs: list[float]
    losses: list[float]
    model: list[float]
    loss: float
    grad_norm: float
    curvature: float
    sharpness: float | None
    measured_min: float | None
    measured_crossing: float | None


def loss_line(probe: LineProbe, iterations: int, points: int, samples: int | None) -> Line:
    """Measures the loss along the negative gradient (``points`` step sizes) and the model of it
    (which has no minimum where the loss curves down along the gradient, c <= 0)."""
    grad = probe.gradient(torch.zeros_like(probe.weights))
    loss0, grad_sq = probe.loss(torch.zeros_like(grad)), float(grad @ grad)
    c = float(grad @ probe.hessian_vector(grad, grad)) / grad_sq
    # From -1 to 3 in units of 1/|c|: with points = 4k + 1 the line passes exactly through w.
    lrs = [(-1 + 4 * i / (points - 1)) / abs(c) for i in range(points)]
    losses = [probe.loss(-lr * grad) for lr in tqdm(lrs, desc="loss along the line", leave=False)]
    model = [loss0 - lr * grad_sq + lr**2 / 2 * c * grad_sq for lr in lrs]
    top = top_eigenvalue(probe, grad, iterations) if iterations else None
    best = min(range(points), key=losses.__getitem__)
    ends = _vertex(lrs, losses, best), _crossing(lrs, losses, loss0, best)
    return Line(samples, lrs, losses, model, loss0, math.sqrt(grad_sq), c, top, *ends)


def _vertex(lrs: list[float], losses: list[float], best: int) -> float | None:
    """The minimum of the parabola through the lowest loss and its neighbours (None at an end)."""
    if best in (0, len(lrs) - 1):
        return None
    (x0, x1, x2), (y0, y1, y2) = lrs[best - 1 : best + 2], losses[best - 1 : best + 2]
    numerator = (x1 - x0) ** 2 * (y1 - y2) - (x1 - x2) ** 2 * (y1 - y0)
    return x1 - 0.5 * numerator / ((x1 - x0) * (y1 - y2) - (x1 - x2) * (y1 - y0))


def _crossing(lrs: list[float], losses: list[float], level: float, start: int) -> float | None:
    """The first step size after ``start`` where ``losses`` is back at ``level`` (interpolated)."""
    for i in range(max(start, 1), len(lrs)):
        if lrs[i] > 0 and losses[i] >= level > losses[i - 1]:
            fraction = (level - losses[i - 1]) / (losses[i] - losses[i - 1])
            return lrs[i - 1] + fraction * (lrs[i] - lrs[i - 1])
    return None


def trained_weights(settings: LineSettings, data: StudyData, checkpoint: Any):
    """The networks whose lines are measured, ``[(slice gradients of training, network)]``, and a
    line saying where they come from: the checkpoint's, or copies taken at ``fractions`` of a
    brief training with Adam."""
    if checkpoint is not None:
        epochs = f"epoch {checkpoint.epoch}, step {checkpoint.global_step}"
        return [(None, checkpoint.net)], f"checkpoint {checkpoint.path} ({epochs})"
    net = harness.make_unet(settings.chans, seed=settings.run.seed)
    kept: list[tuple[int | None, torch.nn.Module]] = []
    marks = sorted({max(1, round(f * settings.run.budget)) for f in settings.fractions})
    keep = lambda spent: kept.append((spent, copy.deepcopy(net)))  # noqa: E731
    optimizer = Adam(net.parameters(), lr=settings.lr)
    record = harness.train_run(net, optimizer, data, settings.run, marks, keep, "brief training")
    if record.train_loss is None:
        raise ValueError(
            f"the brief training diverged (Adam, lr {settings.lr:g}): use --checkpoint"
        )
    epochs = settings.run.budget / len(data.train)
    return kept, (
        f"no checkpoint given: a U-Net ({settings.chans} channels) trained here with Adam (lr "
        f"{settings.lr:g}) for {harness.counted(epochs, 'epoch')} of {len(data.train)} slices, "
        f"training loss {record.train_loss:.4f}; lines after "
        f"{', '.join(str(s) for s, _ in kept)} slice gradients"
    )


def measure(settings: LineSettings, data: StudyData, checkpoint: Any) -> tuple[dict, Figure]:
    """The network part: its JSON content (the last line's numbers at the top, every line under
    ``points``) and its figure."""
    nets, source = trained_weights(settings, data, checkpoint)
    slices = data.train.subset(harness.spread(len(data.train), settings.line_slices), torch.float64)
    lines = []
    for samples, net in nets:  # the top eigenvalue (power iteration, costly) at the last only
        probe = LineProbe(net, slices, settings.run.batch_size)
        iterations = settings.iterations if samples == nets[-1][0] else 0
        lines.append(loss_line(probe, iterations, settings.points, samples))
    content = {"data": data.describe(), "weights": source, **asdict(lines[-1])}
    content["points"] = [asdict(line) for line in lines]
    return content, line_figure(lines, "checkpoint" if checkpoint else "trained briefly")


def line_figure(lines: list[Line], source: str) -> Figure:
    """Left: the last line and its model, with 1/c, 2/c, 1/L and 2/L. Right: every line in the
    model's units (step x c, loss change / (||g||^2 / c)), where the model is one parabola."""
    figure = Figure(figsize=(14, 5), layout="constrained")
    axes, scaled = figure.subplots(1, 2)
    line = lines[-1]
    axes.plot(line.lrs, line.losses, marker=".", color="black", label="measured L1 loss")
    axes.plot(line.lrs, line.model, ls="--", color="tab:blue", label="quadratic model")
    marks = {"1/c": 1 / line.curvature, "2/c": 2 / line.curvature, "2/L": 2 / line.sharpness}
    for (text, x), color in zip(marks.items(), ("tab:blue", "tab:blue", "tab:red")):
        axes.axvline(x, color=color, ls=":", lw=1)
        axes.text(x, max(line.losses), f" {text}", color=color, va="top")
    axes.axhline(line.loss, color="grey", lw=0.5)
    low, high = min(line.losses), max(line.losses)
    axes.set_ylim(low - 0.05 * (high - low), high + 0.1 * (high - low))
    axes.set(xlabel="step size along the negative gradient", ylabel="L1 loss (normalised images)")
    axes.set_title(f"U-Net loss along the gradient ({source})", fontsize=10)
    axes.legend(fontsize=8)
    x = torch.linspace(-1, 3, 81)
    scaled.plot(x, x**2 / 2 - x, ls="--", color="black", label="quadratic model")
    for each in lines:  # a line where c < 0 is drawn in units of |c|
        unit = each.grad_norm**2 / abs(each.curvature)
        steps = [lr * abs(each.curvature) for lr in each.lrs]
        changes = [(loss - each.loss) / unit for loss in each.losses]
        scaled.plot(steps, changes, marker=".", label=_when(each.samples))
    scaled.axhline(0, color="grey", lw=0.5)
    scaled.set(xlabel="step size x c", ylabel="loss change / (|g|^2 / c)")
    scaled.set_title("every line in the model's units: minimum at 1, back at 0 at 2", fontsize=10)
    scaled.legend(fontsize=8)
    return figure


def _measured(value: float | None, c: float, unit: int) -> str:
    """A measured step size, and in units of the model's ``unit / c``."""
    ratio = f" = {value * c / unit:.3g} x {unit}/c" if c > 0 and value is not None else ""
    return "beyond the range" if value is None else f"{value:.4g}{ratio}"


def summary(network: dict[str, Any]) -> list[str]:
    """The printed lines of the network part: at each point, the model's minimum 1/c and return
    to the start 2/c, and the measured ones, also in the model's units."""
    lines = [f"U-Net loss along the gradient on {network['data']}", f"  {network['weights']}"]
    for p in network["points"]:
        c, low, back = p["curvature"], p["measured_min"], p["measured_crossing"]
        lines.append(
            f"  {_when(p['samples'])}: loss {p['loss']:.5f}, |g| {p['grad_norm']:.4g}, c = "
            f"{c:.4g}; model minimum 1/c = {1 / c:.4g}, measured {_measured(low, c, 1)}; back at "
            f"the start 2/c = {2 / c:.4g}, measured {_measured(back, c, 2)}"
        )
    top = network["sharpness"]
    return [*lines, f"  top Hessian eigenvalue (largest magnitude), last point: {top:.4g}, 2/L = "
            f"{2 / top:.4g}"]  # fmt: skip


def _when(samples: int | None) -> str:
    return "at the checkpoint" if samples is None else f"after {samples} slice gradients"
