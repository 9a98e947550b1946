"""Pieces shared by the optimizers: argument checks, lazy step counters, param/grad gathering.

Each optimizer file keeps its own update rule; this module holds only what is identical
between them, so that the update rules read on their own.
"""

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

Closure = Callable[[], Any]


def check_non_negative(name: str, value: float) -> None:
    """Raise ``ValueError`` unless ``value >= 0`` (NaN fails too).

    Args:
        name: argument name used in the message.
        value: the value to check.
    """
    if not value >= 0.0:
        raise ValueError(f"{name} must be >= 0, got {value}")


def check_unit_interval(name: str, value: float) -> None:
    """Raise ``ValueError`` unless ``0 <= value < 1`` (NaN fails too).

    Args:
        name: argument name used in the message.
        value: the value to check.
    """
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")


def new_step_counter() -> Tensor:
    """A zero step counter stored the way ``torch.optim`` stores it.

    A scalar CPU tensor, float32 (float64 when that is the default dtype), so state dicts
    move between these optimizers and their ``torch.optim`` namesakes unchanged.

    Returns:
        A 0-d tensor holding 0.
    """
    dtype = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
    return torch.zeros((), dtype=dtype)


def upgrade_step_counters(optimizer: Optimizer) -> None:
    """Turn plain-number ``step`` entries (old state dicts) into step counter tensors.

    Args:
        optimizer: the optimizer whose state is converted in place.
    """
    for param_state in optimizer.state.values():
        step = param_state.get("step")
        if step is not None and not torch.is_tensor(step):
            param_state["step"] = new_step_counter().fill_(float(step))


def gather(group: dict[str, Any], name: str) -> tuple[list[Tensor], list[Tensor]]:
    """The parameters of a group that have a gradient, and those gradients.

    Args:
        group: a param group of an optimizer.
        name: the optimizer's name, for the error message.

    Returns:
        ``(params, grads)``, in the group's order.

    Raises:
        RuntimeError: if a gradient is sparse or a parameter complex.
    """
    params, grads = [], []
    for p in group["params"]:
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            raise RuntimeError(f"{name} does not support sparse gradients")
        if p.is_complex():
            raise RuntimeError(
                f"{name} does not support complex parameters: pass torch.view_as_real views"
            )
        params.append(p)
        grads.append(p.grad)
    return params, grads


def use_foreach(group: dict[str, Any]) -> bool:
    """Whether a group takes the multi-tensor path (the default when ``foreach`` is None).

    Args:
        group: a param group with a ``foreach`` entry.

    Returns:
        False only when ``foreach`` is explicitly False.
    """
    return group["foreach"] is not False


def split_by_device_dtype(
    params: list[Tensor], grads: list[Tensor]
) -> list[tuple[list[Tensor], list[Tensor]]]:
    """Split parameters and their gradients into runs that share one device and dtype.

    ``torch._foreach_*`` ops need every tensor of one call on one device with one dtype.

    Args:
        params: parameters.
        grads: their gradients, in the same order.

    Returns:
        One ``(params, grads)`` pair per (device, dtype), in order of first appearance.
    """
    runs: dict[tuple[torch.device, torch.dtype], tuple[list[Tensor], list[Tensor]]] = {}
    for p, g in zip(params, grads, strict=True):
        run = runs.setdefault((p.device, p.dtype), ([], []))
        run[0].append(p)
        run[1].append(g)
    return list(runs.values())


class OptimizerBase(Optimizer):
    """``torch.optim.Optimizer`` with the step loop shared by the optimizers here.

    ``step`` evaluates the closure, gathers each group's parameters that have gradients,
    splits them by device and dtype on the multi-tensor path, and hands each run to
    ``_update``, which the subclasses implement.
    """

    @torch.no_grad()
    def step(self, closure: Closure | None = None) -> Any:
        """Perform one optimization step.

        Args:
            closure: re-evaluates the model and returns the loss; run with gradients enabled.

        Returns:
            The closure's loss, or None without a closure.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads = gather(group, type(self).__name__)
            foreach = use_foreach(group)
            runs = split_by_device_dtype(params, grads) if foreach else [(params, grads)]
            for run_params, run_grads in runs:
                if run_params:
                    self._update(group, run_params, run_grads, foreach)
        return loss

    def _update(
        self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor], foreach: bool
    ) -> None:
        """Apply the update rule to one run of parameters (one device and dtype when foreach).

        Args:
            group: the param group the run belongs to, with its hyperparameters.
            params: parameters that have gradients.
            grads: their gradients.
            foreach: take the multi-tensor path.
        """
        raise NotImplementedError
