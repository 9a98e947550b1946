"""Adam: steps scaled by bias-corrected running moments of the gradient."""

from typing import Any

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

from mri_recon.optim._common import (
    OptimizerBase,
    check_non_negative,
    check_unit_interval,
    new_step_counter,
    upgrade_step_counters,
)


class Adam(OptimizerBase):
    r"""Adam (Kingma & Ba, 2015), a from-scratch ``torch.optim.Adam``.

    With gradient :math:`g_t`, learning rate :math:`\gamma`, betas :math:`(\beta_1, \beta_2)`
    and weight decay :math:`\lambda`, starting from :math:`m_0 = v_0 = v^{max}_0 = 0`, step
    :math:`t = 1, 2, \dots` applies, in order:

    .. math::
        g_t &\leftarrow -g_t \quad \text{if maximize} \\
        g_t &\leftarrow g_t + \lambda \theta_{t-1}
            \quad \text{(AdamW instead: } \theta_{t-1} \leftarrow (1 - \gamma\lambda)
            \theta_{t-1} \text{)} \\
        m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
        v_t &\leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        v^{max}_t &\leftarrow \max(v^{max}_{t-1}, v_t), \quad
            \hat{v}_t = v^{max}_t \text{ if amsgrad, else } \hat{v}_t = v_t \\
        \theta_t &\leftarrow \theta_{t-1} - \frac{\gamma}{1 - \beta_1^t}
            \, \frac{m_t}{\sqrt{\hat{v}_t / (1 - \beta_2^t)} + \epsilon}

    Conventions, as in PyTorch: the bias corrections :math:`1 - \beta^t` are folded into the
    step size and the denominator rather than applied to stored moments, and :math:`\epsilon`
    is added to the bias-corrected root, as in the paper's Algorithm 1. The paper's "more
    efficient" ordering adds it to the uncorrected root instead, where the same numeric
    :math:`\epsilon` acts :math:`1 / \sqrt{1 - \beta_2^t}` times larger (about 31.6 times at
    :math:`t = 1` with :math:`\beta_2 = 0.999`). The weight decay here is an L2 penalty added
    to the gradient, so it is rescaled by the adaptive denominator; :class:`AdamW` decouples it.
    AMSGrad (Reddi et al., 2018) keeps the running maximum :math:`v^{max}_t` and uses it, bias
    corrected, in the denominator only: the stored :math:`v_t` is not overwritten.

    State per parameter: ``step``, ``exp_avg`` (:math:`m`), ``exp_avg_sq`` (:math:`v`),
    ``max_exp_avg_sq`` (:math:`v^{max}`, with amsgrad), as in ``torch.optim``. Unlike
    ``torch.optim.Adam`` there are no ``capturable``, ``differentiable``, ``fused`` or
    ``decoupled_weight_decay`` options (use :class:`AdamW`), the learning rate and betas are
    floats, and sparse gradients and complex parameters are rejected.

    Args:
        params: parameters or param groups to optimize.
        lr: learning rate :math:`\gamma`.
        betas: decay rates :math:`(\beta_1, \beta_2)` of the first and second moments.
        eps: term :math:`\epsilon` added to the denominator.
        weight_decay: weight decay :math:`\lambda`.
        amsgrad: use the AMSGrad variant.
        maximize: maximize the objective instead of minimizing it.
        foreach: use the multi-tensor path (``torch._foreach_*``); None means True.

    Examples:
        The first step moves every coordinate by about :math:`\gamma`, however different the
        gradients' scales (after bias correction :math:`m_1 / \sqrt{v_1}` is the sign of
        :math:`g_1`):

        >>> import torch
        >>> from mri_recon.optim import Adam
        >>> w = torch.tensor([1.0, -100.0], requires_grad=True)
        >>> opt = Adam([w], lr=0.1)
        >>> w.grad = torch.tensor([0.5, 2000.0])
        >>> opt.step()
        >>> w
        tensor([   0.9000, -100.1000], requires_grad=True)
        >>> sorted(opt.state[w])
        ['exp_avg', 'exp_avg_sq', 'step']
    """

    decoupled_weight_decay = False

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        check_non_negative("lr", lr)
        check_non_negative("eps", eps)
        check_unit_interval("betas[0]", betas[0])
        check_unit_interval("betas[1]", betas[1])
        check_non_negative("weight_decay", weight_decay)
        defaults = {
            "lr": lr,
            "betas": (float(betas[0]), float(betas[1])),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("amsgrad", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
        upgrade_step_counters(self)

    def _update(
        self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor], foreach: bool
    ) -> None:
        amsgrad = group["amsgrad"]
        steps, exp_avgs, exp_avg_sqs, max_exp_avg_sqs = [], [], [], []
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state["step"] = new_step_counter()
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if amsgrad:
                    state["max_exp_avg_sq"] = torch.zeros_like(
                        p, memory_format=torch.preserve_format
                    )
            steps.append(state["step"])
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            if amsgrad:
                max_exp_avg_sqs.append(state["max_exp_avg_sq"])
        update = _adam_foreach if foreach else _adam_loop
        beta1, beta2 = group["betas"]
        update(
            params,
            grads,
            steps,
            exp_avgs,
            exp_avg_sqs,
            max_exp_avg_sqs,
            lr=group["lr"],
            beta1=beta1,
            beta2=beta2,
            eps=group["eps"],
            weight_decay=group["weight_decay"],
            decoupled=self.decoupled_weight_decay,
            maximize=group["maximize"],
        )


def _adam_loop(
    params: list[Tensor],
    grads: list[Tensor],
    steps: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    max_exp_avg_sqs: list[Tensor],
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    decoupled: bool,
    maximize: bool,
) -> None:
    """One parameter at a time; ``max_exp_avg_sqs`` is empty unless amsgrad."""
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        steps[i] += 1
        t = steps[i].item()
        g = -g if maximize else g
        if weight_decay != 0:
            if decoupled:
                p.mul_(1 - lr * weight_decay)
            else:
                g = g.add(p, alpha=weight_decay)
        exp_avg, exp_avg_sq = exp_avgs[i], exp_avg_sqs[i]
        exp_avg.lerp_(g, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        if max_exp_avg_sqs:
            exp_avg_sq = torch.maximum(max_exp_avg_sqs[i], exp_avg_sq, out=max_exp_avg_sqs[i])
        bias_correction1 = 1 - beta1**t
        bias_correction2 = 1 - beta2**t
        denom = (exp_avg_sq.sqrt() / bias_correction2**0.5).add_(eps)
        p.addcdiv_(exp_avg, denom, value=-lr / bias_correction1)


def _adam_foreach(
    params: list[Tensor],
    grads: list[Tensor],
    steps: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    max_exp_avg_sqs: list[Tensor],
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    decoupled: bool,
    maximize: bool,
) -> None:
    """All parameters (one device and dtype) at once; ``max_exp_avg_sqs`` is empty unless amsgrad.

    The bias correction of the second moment moves out of the denominator:
    ``m / (sqrt(v / c2) + eps) == sqrt(c2) * m / (sqrt(v) + eps * sqrt(c2))``, which saves one
    pass over the parameters.
    """
    torch._foreach_add_(steps, 1.0)
    if maximize:
        grads = torch._foreach_neg(grads)
    if weight_decay != 0:
        if decoupled:
            torch._foreach_mul_(params, 1 - lr * weight_decay)
        elif maximize:
            torch._foreach_add_(grads, params, alpha=weight_decay)
        else:
            grads = torch._foreach_add(grads, params, alpha=weight_decay)
    torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1 - beta2)
    if max_exp_avg_sqs:
        torch._foreach_maximum_(max_exp_avg_sqs, exp_avg_sqs)
        denom = torch._foreach_sqrt(max_exp_avg_sqs)
    else:
        denom = torch._foreach_sqrt(exp_avg_sqs)
    eps_terms, step_sizes = [], []
    for t in torch.stack(steps).tolist():
        root_correction2 = (1 - beta2**t) ** 0.5
        eps_terms.append(eps * root_correction2)
        step_sizes.append(-lr * root_correction2 / (1 - beta1**t))
    torch._foreach_add_(denom, eps_terms)
    torch._foreach_addcdiv_(params, exp_avgs, denom, step_sizes)
