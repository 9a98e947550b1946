"""Stochastic gradient descent with PyTorch's or Sutskever's momentum."""

from typing import Any

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

from mri_recon.optim._common import OptimizerBase, check_non_negative

MOMENTUM_STYLES = ("pytorch", "sutskever")


class SGD(OptimizerBase):
    r"""Stochastic gradient descent, optionally with momentum (a from-scratch ``torch.optim.SGD``).

    With gradient :math:`g_t`, learning rate :math:`\gamma_t`, momentum :math:`\mu`,
    dampening :math:`\tau` and weight decay :math:`\lambda`, one step applies, in order:

    .. math::
        g_t &\leftarrow -g_t \quad \text{if maximize} \\
        g_t &\leftarrow g_t + \lambda \theta_{t-1} \\
        \text{pytorch:}\quad v_t &\leftarrow \mu v_{t-1} + (1 - \tau) g_t
            \quad (v_1 = g_1) \\
        \theta_t &\leftarrow \theta_{t-1} - \gamma_t v_t
            \quad \text{or, Nesterov,} \quad
            \theta_t \leftarrow \theta_{t-1} - \gamma_t (g_t + \mu v_t) \\
        \text{sutskever:}\quad v_t &\leftarrow \mu v_{t-1} - \gamma_t (1 - \tau) g_t
            \quad (v_1 = -\gamma_1 g_1) \\
        \theta_t &\leftarrow \theta_{t-1} + v_t
            \quad \text{or, Nesterov,} \quad
            \theta_t \leftarrow \theta_{t-1} + \mu v_t - \gamma_t g_t

    Without momentum both reduce to :math:`\theta_t \leftarrow \theta_{t-1} - \gamma_t g_t`.

    PyTorch's momentum (the default, and ``torch.optim.SGD``'s) keeps the velocity in gradient
    units and multiplies it by the current learning rate; Sutskever et al. (2013) keep it in
    parameter units, with each gradient scaled by the learning rate of its own step. For a
    constant learning rate the two give the same iterates (:math:`v^{sut}_t = -\gamma v^{pt}_t`).
    They differ when the learning rate changes between steps, e.g. under a scheduler: after a
    change from :math:`\gamma_a` to :math:`\gamma_b`, PyTorch's step rescales the whole
    accumulated velocity by :math:`\gamma_b` at once, while Sutskever's keeps the past
    contributions at :math:`\gamma_a` and lets them decay with :math:`\mu`. The first step after
    the change differs (PyTorch's minus Sutskever's) by
    :math:`(\gamma_a - \gamma_b)\,\mu\, v^{pt}_{t-1}` (plain momentum).
    Nesterov is the "look-ahead" form of Bengio et al. (2013) in both styles. The
    ``momentum_buffer`` state holds :math:`v_t` of the chosen style, so only the PyTorch style's
    state means the same as ``torch.optim.SGD``'s.

    Unlike ``torch.optim.SGD`` there are no ``differentiable`` or ``fused`` options, the learning
    rate is a float, and sparse gradients and complex parameters are rejected.

    Args:
        params: parameters or param groups to optimize.
        lr: learning rate :math:`\gamma`.
        momentum: momentum factor :math:`\mu`.
        dampening: dampening :math:`\tau` of the gradient in the momentum.
        weight_decay: L2 penalty :math:`\lambda`, added to the gradient.
        nesterov: use Nesterov momentum (needs momentum > 0 and zero dampening).
        maximize: maximize the objective instead of minimizing it.
        foreach: use the multi-tensor path (``torch._foreach_*``); None means True.
        momentum_style: ``"pytorch"`` or ``"sutskever"``, see above.

    Examples:
        Two steps on :math:`\|w - (1, -2)\|^2` with PyTorch's momentum: :math:`v_1 = g_1 =
        (-2, 4)`, :math:`w_1 = (0.2, -0.4)`, :math:`v_2 = 0.9 v_1 + g_2 = (-3.4, 6.8)`, then
        :math:`w_2 = w_1 - 0.1 v_2`:

        >>> import torch
        >>> from mri_recon.optim import SGD
        >>> w = torch.zeros(2, requires_grad=True)
        >>> opt = SGD([w], lr=0.1, momentum=0.9)
        >>> for _ in range(2):
        ...     opt.zero_grad()
        ...     (w - torch.tensor([1.0, -2.0])).square().sum().backward()
        ...     opt.step()
        >>> w
        tensor([ 0.5400, -1.0800], requires_grad=True)
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        momentum_style: str = "pytorch",
    ) -> None:
        check_non_negative("lr", lr)
        check_non_negative("momentum", momentum)
        check_non_negative("weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("nesterov needs momentum > 0 and dampening == 0")
        if momentum_style not in MOMENTUM_STYLES:
            raise ValueError(
                f"momentum_style must be one of {MOMENTUM_STYLES}, got {momentum_style!r}"
            )
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "momentum_style": momentum_style,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("momentum_style", "pytorch")

    def _update(
        self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor], foreach: bool
    ) -> None:
        use_momentum = group["momentum"] != 0
        bufs = [self.state[p].get("momentum_buffer") for p in params] if use_momentum else []
        update = _sgd_foreach if foreach else _sgd_loop
        update(
            params,
            grads,
            bufs,
            lr=group["lr"],
            momentum=group["momentum"],
            dampening=group["dampening"],
            weight_decay=group["weight_decay"],
            nesterov=group["nesterov"],
            maximize=group["maximize"],
            sutskever=group["momentum_style"] == "sutskever",
        )
        if use_momentum:
            for p, buf in zip(params, bufs, strict=True):
                self.state[p]["momentum_buffer"] = buf


def _sgd_loop(
    params: list[Tensor],
    grads: list[Tensor],
    bufs: list[Tensor | None],
    *,
    lr: float,
    momentum: float,
    dampening: float,
    weight_decay: float,
    nesterov: bool,
    maximize: bool,
    sutskever: bool,
) -> None:
    """One parameter at a time; fills missing entries of ``bufs`` in place."""
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        g = -g if maximize else g
        if weight_decay != 0:
            g = g.add(p, alpha=weight_decay)
        if momentum == 0:
            p.add_(g, alpha=-lr)
            continue
        buf = bufs[i]
        if sutskever:
            if buf is None:
                buf = bufs[i] = g.mul(-lr)
            else:
                buf.mul_(momentum).add_(g, alpha=-lr * (1 - dampening))
            if nesterov:
                p.add_(buf, alpha=momentum).add_(g, alpha=-lr)
            else:
                p.add_(buf)
        else:
            if buf is None:
                buf = bufs[i] = g.clone()
            else:
                buf.mul_(momentum).add_(g, alpha=1 - dampening)
            p.add_(g.add(buf, alpha=momentum) if nesterov else buf, alpha=-lr)


def _sgd_foreach(
    params: list[Tensor],
    grads: list[Tensor],
    bufs: list[Tensor | None],
    *,
    lr: float,
    momentum: float,
    dampening: float,
    weight_decay: float,
    nesterov: bool,
    maximize: bool,
    sutskever: bool,
) -> None:
    """All parameters (one device and dtype) at once; fills missing entries of ``bufs``."""
    owns_grads = maximize or weight_decay != 0  # False: grads are the .grad tensors themselves
    if maximize:
        grads = torch._foreach_neg(grads)
    if weight_decay != 0:
        if maximize:
            torch._foreach_add_(grads, params, alpha=weight_decay)
        else:
            grads = torch._foreach_add(grads, params, alpha=weight_decay)
    if momentum == 0:
        torch._foreach_add_(params, grads, alpha=-lr)
        return
    # Velocity: scale of the new gradient in it, and of the velocity in the step.
    grad_scale = -lr if sutskever else 1.0
    step_scale = 1.0 if sutskever else -lr
    old = [i for i, buf in enumerate(bufs) if buf is not None]
    if len(old) == len(bufs):
        torch._foreach_mul_(bufs, momentum)
        torch._foreach_add_(bufs, grads, alpha=grad_scale * (1 - dampening))
    else:
        for i in old:
            bufs[i].mul_(momentum).add_(grads[i], alpha=grad_scale * (1 - dampening))
        for i, buf in enumerate(bufs):
            if buf is None:
                bufs[i] = grads[i].mul(grad_scale)
    if nesterov and sutskever:
        torch._foreach_add_(params, bufs, alpha=momentum)
        torch._foreach_add_(params, grads, alpha=-lr)
    elif nesterov:
        if owns_grads:
            torch._foreach_add_(grads, bufs, alpha=momentum)
        else:
            grads = torch._foreach_add(grads, bufs, alpha=momentum)
        torch._foreach_add_(params, grads, alpha=-lr)
    else:
        torch._foreach_add_(params, bufs, alpha=step_scale)
