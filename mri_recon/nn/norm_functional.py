"""From-scratch normalization: one autograd Function over a set of axes, and its functional views.

Every normalization layer here is the same computation on a different view of the input:

    batch_norm     x: (N, C, L)          statistics over (N, L)     per-channel affine
    instance_norm  x: (N, C, L)          statistics over (L,)       per-channel affine
    group_norm     x: (N, G, C/G, L)     statistics over (C/G, L)   per-channel affine
    layer_norm     x: (R, M)             statistics over (M,)       elementwise affine

`Normalize` computes the statistics with elementary single-pass reductions (`sum`, `vector_norm`;
much faster on CPU than Welford's `torch.var_mean`), guarded against the cancellation of
E[x^2] - E[x]^2, and has a hand-derived backward.
"""

import math

import torch
from torch import Tensor
from torch.autograd import Function
from torch.autograd.function import FunctionCtx, once_differentiable

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _sum_of_squares(x: Tensor, dims: tuple[int, ...]) -> Tensor:
    """sum(x^2) over `dims` (kept), in one pass and without a temporary."""
    return torch.linalg.vector_norm(x, 2, dims, keepdim=True).square_()


def _compute_dtype(x: Tensor) -> torch.dtype:
    """Statistics are computed in float32 for half-precision inputs, else in the input's dtype."""
    return torch.float32 if x.dtype in _LOW_PRECISION else x.dtype


def _sum_to(t: Tensor, shape: torch.Size) -> Tensor:
    """Sum `t` over the axes where `shape` has size 1 (`shape` has t's rank)."""
    dims = tuple(d for d, size in enumerate(shape) if size == 1 and t.shape[d] != 1)
    return t.sum(dims, keepdim=True) if dims else t


def _sum(t: Tensor, dims: tuple[int, ...]) -> Tensor:
    """Sum over `dims` keeping them as size 1; no axes means no sum (torch would sum all)."""
    return t.sum(dims, keepdim=True) if dims else t


class Normalize(Function):
    r"""y = (x - mean) / sqrt(var + eps) * weight + bias, statistics over the axes `dims`.

    Forward, for each group S of M elements (the axes `dims` at fixed other indices):
    mu = sum(x) / M, var = sum(x^2) / M - mu^2 (biased), r = (var + eps)^(-1/2), and
    y = x s + (b - mu s) with s = r w: three passes over x (sum, sum of squares, output). The
    one-pass variance loses about mu^2 / var of float32's 1e-7 relative precision, so where
    mu^2 > CENTRE_RATIO var in some group x is centred first (x - mu, with mu = 0 afterwards) and
    the variance recomputed, here and in backward. Off the CPU x is always centred, so that the
    guard never forces a host-device sync. With ``use_input_stats=False`` mu and var are
    the running buffers. In training, the running buffers (viewed to broadcast against x) are
    updated in place: buf = (1 - momentum) buf + momentum stat, with the unbiased variance
    var M / (M - 1), averaged over the axes the buffer lacks (instance norm's batch axis).

    Backward. Let g = dL/dy, xhat = (x - mu) r and d = g w = dL/dxhat. Then dL/db = sum g and
    dL/dw = sum g xhat over the axes where each parameter is broadcast; with fixed statistics
    dL/dx = r d. With batch statistics, dxhat_j/dx_i = r (delta_ij - 1/M - xhat_i xhat_j / M),
    since dmu/dx_i = 1/M and dr/dx_i = -r^3 (x_i - mu) / M. Summing d_j over the group gives

        dL/dx_i = r (d_i - mean_S(d) - xhat_i mean_S(d xhat))
                = g_i r w_i + x_i c + (-c mu - r mean_S(d)),   c = -r^2 mean_S(d xhat).

    Neither d nor xhat is formed: the partial sums P = sum(g) and Q = sum(g x) over the axes where
    w is constant (all of S for batch and instance norm, the positions for group norm) give
    sum(g xhat) = r (Q - mu P), hence dL/dw, dL/db, mean_S(d) and mean_S(d xhat). The product
    g x is written into the buffer that then becomes dL/dx. Only x, w, mu and r are saved.
    """

    CENTRE_RATIO = 100.0

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        x: Tensor,
        weight: Tensor | None,
        bias: Tensor | None,
        running_mean: Tensor | None,
        running_var: Tensor | None,
        dims: tuple[int, ...],
        use_input_stats: bool,
        momentum: float,
        eps: float,
    ) -> Tensor:
        """Normalize x; see the class docstring.

        Args:
            ctx: the autograd context.
            x: input, any shape; float16/bfloat16 inputs are computed in float32.
            weight, bias: affine parameters viewed to broadcast against x, or None.
            running_mean, running_var: running buffers viewed like weight, or None.
            dims: the axes of one normalization group.
            use_input_stats: normalize with batch statistics (else the running buffers).
            momentum: running-buffer update factor (0 means no update).
            eps: added to the variance.

        Returns:
            y, with x's shape and dtype.
        """
        with torch.autocast(x.device.type, enabled=False):
            xf = x.to(_compute_dtype(x))
            count = math.prod(x.shape[d] for d in dims)
            centred = False
            if use_input_stats:
                mean = xf.sum(dims, keepdim=True).div_(count)
                var = _sum_of_squares(xf, dims).div_(count).sub_(mean * mean).clamp_(min=0)
                # Reading the guard back is free on CPU but a host sync on an accelerator,
                # where one more pass over x is the cheaper price: there x is always centred.
                centred = x.device.type != "cpu" or bool(
                    (mean * mean > Normalize.CENTRE_RATIO * var).any()
                )
                if centred:
                    xf = xf - mean
                    var = _sum_of_squares(xf, dims).div_(count)
                if running_mean is not None and running_var is not None and momentum != 0.0:
                    size = mean.numel() // running_mean.numel()
                    unbiased = var * (count / max(count - 1, 1) / size)
                    new_mean = _sum_to(mean / size, running_mean.shape)
                    running_mean.lerp_(new_mean.to(running_mean.dtype), momentum)
                    running_var.lerp_(
                        _sum_to(unbiased, running_var.shape).to(running_var.dtype), momentum
                    )
            else:
                mean = running_mean.to(xf.dtype)
                var = running_var.to(xf.dtype)
            rstd = (var + eps).rsqrt_()
            shift_mean = torch.zeros_like(mean) if centred else mean
            scale = rstd if weight is None else rstd * weight.to(xf.dtype)
            shift = shift_mean * -scale if bias is None else torch.addcmul(bias, shift_mean, -scale)
            y = torch.addcmul(shift, xf, scale, out=None if xf is x else xf)
        ctx.save_for_backward(x, weight, mean, rstd)
        ctx.dims, ctx.count, ctx.centred = dims, count, centred
        ctx.use_input_stats = use_input_stats
        ctx.bias_shape = None if bias is None else bias.shape
        ctx.bias_dtype = None if bias is None else bias.dtype
        return y.to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        x, weight, mean, rstd = ctx.saved_tensors
        dims, count = ctx.dims, ctx.count
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dx = dw = db = None
        with torch.autocast(x.device.type, enabled=False):
            g = grad_out.to(_compute_dtype(x))
            xf = x.to(g.dtype)
            if ctx.centred:
                xf, mean = xf - mean, torch.zeros_like(mean)
            w = None if weight is None else weight.to(g.dtype)
            inner = dims if w is None else tuple(d for d in dims if w.shape[d] == 1)
            outer = tuple(d for d in dims if d not in inner)
            part_g = _sum(g, inner)
            need_gx = need_w or (need_x and ctx.use_input_stats)
            buffer = torch.mul(g, xf) if need_gx else None
            part_gxhat = (_sum(buffer, inner) - mean * part_g).mul_(rstd) if need_gx else None
            if need_b:
                db = _sum_to(part_g, ctx.bias_shape).reshape(ctx.bias_shape).to(ctx.bias_dtype)
            if need_w:
                dw = _sum_to(part_gxhat, w.shape).reshape(weight.shape).to(weight.dtype)
            if need_x:
                scale = rstd if w is None else rstd * w
                if ctx.use_input_stats:
                    sum_d = _sum(part_g if w is None else part_g * w, outer)
                    sum_dxhat = _sum(part_gxhat if w is None else part_gxhat * w, outer)
                    coef = rstd * rstd * sum_dxhat / -count
                    const = torch.addcmul(rstd * sum_d / -count, coef, mean, value=-1)
                    dx = torch.addcmul(const, xf, coef, out=buffer).addcmul_(g, scale)
                else:
                    dx = torch.mul(g, scale, out=buffer)
                dx = dx.to(x.dtype)
        return dx, dw, db, None, None, None, None, None, None


def _check_norm_input(name: str, x: Tensor, min_dim: int) -> None:
    if not isinstance(x, Tensor) or x.dim() < min_dim:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name}: input must have at least {min_dim} dims, got {shape}")


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
) -> Tensor:
    """Batch normalization of (N, C, *): statistics per channel over N and the spatial axes.

    Args: as `torch.nn.functional.batch_norm`; in training, given running buffers (C,) are
    updated in place with `momentum`, and without training they are the statistics used.

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
    return Normalize.apply(x, *params, (0, 2), training, momentum, eps).view(input.shape)


def instance_norm(
    input: Tensor,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Instance normalization of (N, C, *): statistics per sample and channel over spatial axes.

    Args: as `torch.nn.functional.instance_norm`; with use_input_stats, given running buffers
    (C,) receive the batch average of the per-instance statistics.

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
    return Normalize.apply(x, *params, (2,), use_input_stats, momentum, eps).view(input.shape)


def layer_norm(
    input: Tensor,
    normalized_shape: list[int] | tuple[int, ...] | torch.Size,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Layer normalization over the trailing `normalized_shape` axes, elementwise affine.

    Args: as `torch.nn.functional.layer_norm` (weight and bias of shape normalized_shape).

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
    return Normalize.apply(x, w, b, None, None, (1,), True, 0.0, eps).view(input.shape)


def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Group normalization of (N, C, *): statistics per sample over each group of C/G channels.

    Args: as `torch.nn.functional.group_norm` (per-channel weight and bias of shape (C,)).

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
    return Normalize.apply(x, w, b, None, None, (2, 3), True, 0.0, eps).view(input.shape)
