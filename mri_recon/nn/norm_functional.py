"""From-scratch normalization in functional form: one autograd Function, four views of the input.

Every normalization layer here is the same computation on a different view of the input:

    batch_norm     x: (N, C, L)          statistics over (N, L)     per-channel affine
    instance_norm  x: (N, C, L)          statistics over (L,)       per-channel affine
    group_norm     x: (N, G, C/G, L)     statistics over (C/G, L)   per-channel affine
    layer_norm     x: (R, M)             statistics over (M,)       elementwise affine

The computation and its hand-derived gradient are `mri_recon.nn.norm_autograd.Normalize`
(``fused=True``, the default), or its reference `NormalizeReference`, the same formulas written
out one per line (``fused=False``), as the optimizers' ``foreach=False`` loop.
"""

import math

import torch
from torch import Tensor

from mri_recon.nn.norm_autograd import Normalize, NormalizeReference


def _check_norm_input(name: str, x: Tensor, min_dim: int) -> None:
    if not isinstance(x, Tensor) or x.dim() < min_dim:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name}: input must have at least {min_dim} dims, got {shape}")


def _function(fused: bool) -> type[Normalize] | type[NormalizeReference]:
    """The autograd Function that ``fused`` selects."""
    return Normalize if fused else NormalizeReference


def _channel_view(t: Tensor | None, ndim: int) -> Tensor | None:
    """View a per-channel vector (C,) as (1, C, 1, ..., 1) with `ndim` axes."""
    return None if t is None else t.view(1, -1, *([1] * (ndim - 2)))


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
    *,
    fused: bool = True,
) -> Tensor:
    """Batch normalization of (N, C, *): statistics per channel over N and the spatial axes.

    Args: as `torch.nn.functional.batch_norm`; in training, given running buffers (C,) are
    updated in place with `momentum`, and without training they are the statistics used.
    ``fused=False`` runs the reference Function.

    Returns:
        The normalized input, same shape and dtype.
    """
    _check_norm_input("batch_norm", input, 2)
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: running_mean and running_var are required when not training")
    x = input.reshape(input.shape[0], input.shape[1], -1)
    if training and x.shape[0] * x.shape[2] == 1:
        raise ValueError(
            f"batch_norm: expected more than 1 value per channel when training, got {input.shape}"
        )
    params = (_channel_view(t, 3) for t in (weight, bias, running_mean, running_var))
    return _function(fused).apply(x, *params, (0, 2), training, momentum, eps).view(input.shape)


def instance_norm(
    input: Tensor,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
    *,
    fused: bool = True,
) -> Tensor:
    """Instance normalization of (N, C, *): statistics per sample and channel over spatial axes.

    Args: as `torch.nn.functional.instance_norm`; with use_input_stats, given running buffers
    (C,) receive the batch average of the per-instance statistics. ``fused=False`` runs the
    reference Function.

    Returns:
        The normalized input, same shape and dtype.
    """
    _check_norm_input("instance_norm", input, 3)
    if not use_input_stats and (running_mean is None or running_var is None):
        raise ValueError("instance_norm: running stats are required when use_input_stats=False")
    x = input.reshape(input.shape[0], input.shape[1], -1)
    if use_input_stats and x.shape[2] == 1:
        raise ValueError(
            f"instance_norm: expected more than 1 spatial element when training, got {input.shape}"
        )
    params = (_channel_view(t, 3) for t in (weight, bias, running_mean, running_var))
    norm = _function(fused)
    return norm.apply(x, *params, (2,), use_input_stats, momentum, eps).view(input.shape)


def layer_norm(
    input: Tensor,
    normalized_shape: list[int] | tuple[int, ...] | torch.Size,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
    *,
    fused: bool = True,
) -> Tensor:
    """Layer normalization over the trailing `normalized_shape` axes, elementwise affine.

    Args: as `torch.nn.functional.layer_norm` (weight and bias of shape normalized_shape).
    ``fused=False`` runs the reference Function.

    Returns:
        The normalized input, same shape and dtype.
    """
    shape = tuple(normalized_shape)
    if tuple(input.shape[input.dim() - len(shape) :]) != shape:
        raise ValueError(
            f"layer_norm: input shape {tuple(input.shape)} does not end with "
            f"normalized_shape {shape}"
        )
    x = input.reshape(-1, math.prod(shape))
    w = None if weight is None else weight.reshape(1, -1)
    b = None if bias is None else bias.reshape(1, -1)
    return _function(fused).apply(x, w, b, None, None, (1,), True, 0.0, eps).view(input.shape)


def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
    *,
    fused: bool = True,
) -> Tensor:
    """Group normalization of (N, C, *): statistics per sample over each group of C/G channels.

    Args: as `torch.nn.functional.group_norm` (per-channel weight and bias of shape (C,)).
    ``fused=False`` runs the reference Function.

    Returns:
        The normalized input, same shape and dtype.
    """
    _check_norm_input("group_norm", input, 2)
    n, c = input.shape[:2]
    if num_groups <= 0 or c % num_groups != 0:
        raise ValueError(
            f"group_norm: num_channels ({c}) must be divisible by num_groups ({num_groups})"
        )
    x = input.reshape(n, num_groups, c // num_groups, -1)
    w = None if weight is None else weight.view(1, num_groups, -1, 1)
    b = None if bias is None else bias.view(1, num_groups, -1, 1)
    return _function(fused).apply(x, w, b, None, None, (2, 3), True, 0.0, eps).view(input.shape)
