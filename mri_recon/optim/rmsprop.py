"""RMSprop: gradient steps scaled by a running root-mean-square of the gradient."""

from typing import Any

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

from mri_recon.optim._common import (
    OptimizerBase,
    check_non_negative,
    new_step_counter,
    upgrade_step_counters,
)


class RMSprop(OptimizerBase):
    r"""RMSprop (Hinton's lecture 6e), a from-scratch ``torch.optim.RMSprop``.

    With gradient :math:`g_t`, learning rate :math:`\gamma`, smoothing :math:`\alpha`, weight
    decay :math:`\lambda` and momentum :math:`\mu`, starting from :math:`v_0 = \bar g_0 = b_0 = 0`,
    one step applies, in order:

    .. math::
        g_t &\leftarrow -g_t \quad \text{if maximize} \\
        g_t &\leftarrow g_t + \lambda \theta_{t-1} \\
        v_t &\leftarrow \alpha v_{t-1} + (1 - \alpha) g_t^2 \\
        \bar g_t &\leftarrow \alpha \bar g_{t-1} + (1 - \alpha) g_t
            \quad \text{if centered} \\
        d_t &\leftarrow \sqrt{v_t - \bar g_t^2} + \epsilon
            \quad \text{(centered), else} \quad d_t \leftarrow \sqrt{v_t} + \epsilon \\
        b_t &\leftarrow \mu b_{t-1} + g_t / d_t, \quad
            \theta_t \leftarrow \theta_{t-1} - \gamma b_t \quad \text{if } \mu > 0 \\
        \theta_t &\leftarrow \theta_{t-1} - \gamma g_t / d_t \quad \text{otherwise}

    Conventions, as in PyTorch: :math:`\epsilon` is added after the square root (TensorFlow and
    some write :math:`\sqrt{v_t + \epsilon}`); the centered variant (Graves, 2013) divides by an
    estimate of the gradient's standard deviation; momentum accumulates the scaled step, with
    the learning rate applied outside the buffer. There is no bias correction, so the first
    steps are large (:math:`v_1 = (1 - \alpha) g_1^2`).

    State per parameter: ``step``, ``square_avg`` (:math:`v`), ``momentum_buffer`` (:math:`b`,
    when momentum > 0), ``grad_avg`` (:math:`\bar g`, when centered), as in ``torch.optim``.
    Unlike ``torch.optim.RMSprop`` there are no ``capturable`` or ``differentiable`` options,
    ``foreach`` and ``maximize`` are keyword-only, the learning rate is a float, and sparse
    gradients and complex parameters are rejected.

    Args:
        params: parameters or param groups to optimize.
        lr: learning rate :math:`\gamma`.
        alpha: smoothing constant :math:`\alpha` of the running averages.
        eps: term :math:`\epsilon` added to the denominator.
        weight_decay: L2 penalty :math:`\lambda`, added to the gradient.
        momentum: momentum factor :math:`\mu`.
        centered: normalize by the gradient's estimated variance instead of its second moment.
        maximize: maximize the objective instead of minimizing it.
        foreach: use the multi-tensor path (``torch._foreach_*``); None means True.

    Examples:
        Without bias correction the first step is large: :math:`v_1 = (1 - \alpha) g_1^2`, so
        every coordinate moves by :math:`\gamma / \sqrt{1 - \alpha} = 10 \gamma`, whatever the
        size of its gradient:

        >>> import torch
        >>> from mri_recon.optim import RMSprop
        >>> w = torch.zeros(2, requires_grad=True)
        >>> opt = RMSprop([w], lr=0.01, alpha=0.99)
        >>> w.grad = torch.tensor([1.0, -4.0])
        >>> opt.step()
        >>> w
        tensor([-0.1000,  0.1000], requires_grad=True)
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        check_non_negative("lr", lr)
        check_non_negative("alpha", alpha)
        check_non_negative("eps", eps)
        check_non_negative("weight_decay", weight_decay)
        check_non_negative("momentum", momentum)
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("momentum", 0)
            group.setdefault("centered", False)
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
        upgrade_step_counters(self)

    def _update(
        self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor], foreach: bool
    ) -> None:
        momentum, centered = group["momentum"], group["centered"]
        steps, square_avgs, bufs, grad_avgs = [], [], [], []
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state["step"] = new_step_counter()
                state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if momentum > 0:
                    state["momentum_buffer"] = torch.zeros_like(
                        p, memory_format=torch.preserve_format
                    )
                if centered:
                    state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            steps.append(state["step"])
            square_avgs.append(state["square_avg"])
            if momentum > 0:
                bufs.append(state["momentum_buffer"])
            if centered:
                grad_avgs.append(state["grad_avg"])
        update = _rmsprop_foreach if foreach else _rmsprop_loop
        update(
            params,
            grads,
            steps,
            square_avgs,
            bufs,
            grad_avgs,
            lr=group["lr"],
            alpha=group["alpha"],
            eps=group["eps"],
            weight_decay=group["weight_decay"],
            momentum=momentum,
            maximize=group["maximize"],
        )


def _rmsprop_loop(
    params: list[Tensor],
    grads: list[Tensor],
    steps: list[Tensor],
    square_avgs: list[Tensor],
    bufs: list[Tensor],
    grad_avgs: list[Tensor],
    *,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    maximize: bool,
) -> None:
    """One parameter at a time; ``grad_avgs`` is empty unless centered."""
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        steps[i] += 1
        g = -g if maximize else g
        if weight_decay != 0:
            g = g.add(p, alpha=weight_decay)
        square_avg = square_avgs[i]
        square_avg.mul_(alpha).addcmul_(g, g, value=1 - alpha)
        if grad_avgs:
            grad_avg = grad_avgs[i].lerp_(g, 1 - alpha)
            denom = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
        else:
            denom = square_avg.sqrt()
        denom.add_(eps)
        if momentum > 0:
            bufs[i].mul_(momentum).addcdiv_(g, denom)
            p.add_(bufs[i], alpha=-lr)
        else:
            p.addcdiv_(g, denom, value=-lr)


def _rmsprop_foreach(
    params: list[Tensor],
    grads: list[Tensor],
    steps: list[Tensor],
    square_avgs: list[Tensor],
    bufs: list[Tensor],
    grad_avgs: list[Tensor],
    *,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    maximize: bool,
) -> None:
    """All parameters (one device and dtype) at once; ``grad_avgs`` is empty unless centered."""
    torch._foreach_add_(steps, 1.0)
    if maximize:
        grads = torch._foreach_neg(grads)
    if weight_decay != 0:
        if maximize:
            torch._foreach_add_(grads, params, alpha=weight_decay)
        else:
            grads = torch._foreach_add(grads, params, alpha=weight_decay)
    torch._foreach_mul_(square_avgs, alpha)
    torch._foreach_addcmul_(square_avgs, grads, grads, value=1 - alpha)
    if grad_avgs:
        torch._foreach_lerp_(grad_avgs, grads, 1 - alpha)
        denom = torch._foreach_addcmul(square_avgs, grad_avgs, grad_avgs, value=-1)
        torch._foreach_sqrt_(denom)
    else:
        denom = torch._foreach_sqrt(square_avgs)
    torch._foreach_add_(denom, eps)
    if momentum > 0:
        torch._foreach_mul_(bufs, momentum)
        torch._foreach_addcdiv_(bufs, grads, denom)
        torch._foreach_add_(params, bufs, alpha=-lr)
    else:
        torch._foreach_addcdiv_(params, grads, denom, value=-lr)
