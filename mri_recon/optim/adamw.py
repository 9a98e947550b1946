"""AdamW: Adam with weight decay decoupled from the gradient."""

from torch.optim.optimizer import ParamsT

from mri_recon.optim.adam import Adam


class AdamW(Adam):
    r"""AdamW (Loshchilov & Hutter, 2019), a from-scratch ``torch.optim.AdamW``.

    The update is :class:`Adam`'s except for the weight decay, which shrinks the parameters
    directly before the moments are updated instead of entering the gradient:

    .. math::
        g_t &\leftarrow -g_t \quad \text{if maximize} \\
        \theta_{t-1} &\leftarrow (1 - \gamma \lambda)\, \theta_{t-1} \\
        m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
        v_t &\leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        v^{max}_t &\leftarrow \max(v^{max}_{t-1}, v_t), \quad
            \hat{v}_t = v^{max}_t \text{ if amsgrad, else } \hat{v}_t = v_t \\
        \theta_t &\leftarrow \theta_{t-1} - \frac{\gamma}{1 - \beta_1^t}
            \, \frac{m_t}{\sqrt{\hat{v}_t / (1 - \beta_2^t)} + \epsilon}

    Convention, as in PyTorch: the decay is multiplied by the learning rate
    (:math:`\gamma\lambda`), whereas the paper scales it by a separate schedule multiplier
    :math:`\eta_t` alone, so here changing ``lr`` also changes the effective decay. The decay
    is never divided by the adaptive denominator, unlike Adam's L2 penalty. Same state,
    conventions and omitted options as :class:`Adam`.

    Args:
        params: parameters or param groups to optimize.
        lr: learning rate :math:`\gamma`.
        betas: decay rates :math:`(\beta_1, \beta_2)` of the first and second moments.
        eps: term :math:`\epsilon` added to the denominator.
        weight_decay: decoupled weight decay :math:`\lambda`.
        amsgrad: use the AMSGrad variant.
        maximize: maximize the objective instead of minimizing it.
        foreach: use the multi-tensor path (``torch._foreach_*``); None means True.

    Examples:
        With a zero gradient only the decay acts: AdamW shrinks the weights by
        :math:`1 - \gamma \lambda`, while Adam's L2 penalty, divided by its own root mean
        square, moves them by :math:`\gamma`:

        >>> import torch
        >>> from mri_recon.optim import Adam, AdamW
        >>> for optimizer in (AdamW, Adam):
        ...     w = torch.ones(2, requires_grad=True)
        ...     w.grad = torch.zeros(2)
        ...     optimizer([w], lr=0.1, weight_decay=0.5).step()
        ...     print(optimizer.__name__, w.detach())
        AdamW tensor([0.9500, 0.9500])
        Adam tensor([0.9000, 0.9000])
    """

    decoupled_weight_decay = True

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        super().__init__(
            params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, foreach=foreach
        )
