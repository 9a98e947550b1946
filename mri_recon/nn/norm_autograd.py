"""The autograd Functions behind every from-scratch normalization layer.

`Normalize` normalizes over a given set of axes with single-pass reductions (`sum`,
`vector_norm`; on CPU much faster than Welford's `torch.var_mean`), guarded against cancellation,
and backpropagates through a hand-derived gradient (derived in its docstring), fused into as few
passes over x as it can. `NormalizeReference` computes the same with the derivation's formulas
written out one per line, the one to read first; tests hold the two equal. The functional views in
`mri_recon.nn.norm_functional` reshape each layer's input for either (``fused`` picks).
"""

import math

import torch
from torch import Tensor
from torch.autograd import Function
from torch.autograd.function import FunctionCtx, once_differentiable


def _mean_square(x: Tensor, dims: tuple[int, ...], count: int) -> Tensor:
    """sum(x^2) / count over `dims` (kept), in one pass and without a temporary."""
    return torch.linalg.vector_norm(x, 2, dims, keepdim=True).square_().div_(count)


def _sum_to(t: Tensor, shape: torch.Size) -> Tensor:
    """Sum `t` over the axes where `shape` has size 1 (`shape` has t's rank)."""
    dims = tuple(d for d, size in enumerate(shape) if size == 1 and t.shape[d] != 1)
    return t.sum(dims, keepdim=True) if dims else t


def _constant_axes(weight: Tensor | None, dims: tuple[int, ...]) -> tuple[int, ...]:
    """The axes of `dims` along which `weight` is constant (all of them without a weight)."""
    return dims if weight is None else tuple(d for d in dims if weight.shape[d] == 1)


def _sum(t: Tensor, dims: tuple[int, ...]) -> Tensor:
    """Sum over `dims` keeping them as size 1; no axes means no sum (torch would sum all)."""
    return t.sum(dims, keepdim=True) if dims else t


def _mul(a: Tensor, b: Tensor, out: Tensor | None) -> Tensor:
    """a * b, into ``out`` (a spare buffer of a's size) when one is given.

    Under ``torch.compile`` always a new tensor: the compiler plans the buffers itself, and it
    cannot trace an ``out=`` that is not contiguous (a channels-last input's view).
    """
    if out is None or torch.compiler.is_compiling():
        return a * b
    return torch.mul(a, b, out=out)


def _update_running_stats(
    running_mean: Tensor | None,
    running_var: Tensor | None,
    mean: Tensor,
    var: Tensor,
    count: int,
    momentum: float,
) -> None:
    """buf = (1 - momentum) buf + momentum stat, in place, for the mean and the unbiased variance.

    A statistic is averaged over the axes its buffer lacks (instance norm: over the batch);
    nothing happens without buffers or with momentum 0.
    """
    if running_mean is None or running_var is None or momentum == 0.0:
        return
    size = mean.numel() // running_mean.numel()
    unbiased = var * (count / max(count - 1, 1))
    for buf, stat in ((running_mean, mean), (running_var, unbiased)):
        buf.lerp_(_sum_to(stat / size, buf.shape).to(buf.dtype), momentum)


class Normalize(Function):
    r"""y = (x - mean) / sqrt(var + eps) * weight + bias, statistics over the axes `dims`.

    Forward, per group S of M elements (the axes `dims` at fixed other indices): mu = sum(x) / M,
    var = sum(x^2) / M - mu^2 (biased), r = (var + eps)^(-1/2), y = x s + (b - mu s), s = r w
    (for an elementwise w, layer norm's, y = (x r - mu r) w + b: s would be as large as x).
    The one-pass variance loses about mu^2 / var of float32's 1e-7 relative precision, so where
    mu^2 > CENTRE_RATIO var in some group x is centred first (mu = 0 afterwards) and var
    recomputed, here and in backward; off the CPU always, so the guard never syncs with the host,
    and under ``torch.compile`` always, since a compiled graph cannot branch on a tensor's value.
    With ``use_input_stats=False`` mu and var are the running buffers. In training, the running
    buffers (viewed like x) are updated in place, buf = (1 - momentum) buf + momentum stat, with
    the unbiased variance var M / (M - 1), averaged over the axes a buffer lacks.

    Backward. Let g = dL/dy, xhat = (x - mu) r and d = g w = dL/dxhat. Then dL/db = sum g and
    dL/dw = sum g xhat over the axes where each parameter is broadcast; with fixed statistics
    dL/dx = r d. With batch statistics, dxhat_j/dx_i = r (delta_ij - 1/M - xhat_i xhat_j / M),
    since dmu/dx_i = 1/M and dr/dx_i = -r^3 (x_i - mu) / M. Summing d_j over the group gives

        dL/dx_i = r (d_i - mean_S(d) - xhat_i mean_S(d xhat))
                = g_i r w_i + x_i c + (-c mu - r mean_S(d)),   c = -r^2 mean_S(d xhat).

    Neither d nor xhat is formed: the partial sums P = sum(g) and Q = sum(g x) over the axes where
    w is constant (all of S for batch and instance norm, the positions for group norm) give
    sum(g xhat) = r (Q - mu P), hence dL/dw, dL/db, mean_S(d) and mean_S(d xhat).

    Cost: a pass per reduction or elementwise op (`mul` then `add_`: `addcmul` with two broadcast
    operands is not vectorized). New x-sized buffers cost page faults, often more than the op, so
    half-precision x and g are copied to float32 once and reused: y goes into x's copy, g x into
    g's copy (then g again), dL/dx into x's copy (float32: g x's buffer). Saved: x, w, mu, r.
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
            weight, bias, running_mean, running_var: viewed to broadcast against x, or None.
            dims: the axes of one normalization group.
            use_input_stats: normalize with batch statistics (else the running buffers).
            momentum, eps: running-buffer update factor (0: no update); added to the variance.

        Returns:
            y, with x's shape and dtype.
        """
        with torch.autocast(x.device.type, enabled=False):
            xf = x.to(torch.promote_types(x.dtype, torch.float32))  # half precision: float32
            count = math.prod([x.shape[d] for d in dims])
            centred = False
            if use_input_stats:
                mean = xf.sum(dims, keepdim=True).div_(count)
                mean_sq = mean * mean
                var = _mean_square(xf, dims, count).sub_(mean_sq).clamp_(min=0)
                ratio = Normalize.CENTRE_RATIO
                centred = (
                    x.device.type != "cpu"
                    or torch.compiler.is_compiling()
                    or bool((mean_sq > ratio * var).any())
                )
                if centred:
                    xf = xf - mean
                    var = _mean_square(xf, dims, count)
                _update_running_stats(running_mean, running_var, mean, var, count, momentum)
            else:
                mean, var = running_mean.to(xf.dtype), running_var.to(xf.dtype)
            rstd = (var + eps).rsqrt_()
            shift_mean = torch.zeros_like(mean) if centred else mean
            out = None if xf is x else xf
            w = None if weight is None else weight.to(xf.dtype)
            if w is not None and not _constant_axes(w, dims):
                y = _mul(xf, rstd, out).sub_(shift_mean * rstd).mul_(w)
                y = y if bias is None else y.add_(bias.to(xf.dtype))
            else:
                scale = rstd if w is None else rstd * w
                shift = -shift_mean * scale if bias is None else bias - shift_mean * scale
                y = _mul(xf, scale, out).add_(shift)
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
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dx = dw = db = gx = part_gxhat = None
        with torch.autocast(x.device.type, enabled=False):
            g = grad_out.to(torch.promote_types(x.dtype, torch.float32))
            xf = x.to(g.dtype)
            if ctx.centred:
                xf, mean = xf - mean, torch.zeros_like(mean)
            w = None if weight is None else weight.to(g.dtype)
            inner = _constant_axes(w, ctx.dims)
            outer = tuple(d for d in ctx.dims if d not in inner)
            part_g = _sum(g, inner)
            if need_w or (need_x and ctx.use_input_stats):
                # g's own float32 copy (not aliased by part_g) can hold g x, then g again.
                reuse = g is not grad_out and part_g is not g
                gx = _mul(g, xf, g if reuse else None)
                part_gxhat = _sum(gx, inner).addcmul_(mean, part_g, value=-1).mul_(rstd)
                g = g.copy_(grad_out) if reuse else g
            if need_b:
                db = _sum_to(part_g, ctx.bias_shape).reshape(ctx.bias_shape).to(ctx.bias_dtype)
            if need_w:
                dw = _sum_to(part_gxhat, w.shape).reshape(weight.shape).to(weight.dtype)
            if need_x:
                scale = rstd if w is None else rstd * w
                if ctx.use_input_stats:
                    sum_d = _sum(part_g if w is None else part_g * w, outer)
                    sum_dxhat = _sum(part_gxhat if w is None else part_gxhat * w, outer)
                    coef = rstd * rstd * sum_dxhat / -ctx.count
                    const = torch.addcmul(rstd * sum_d / -ctx.count, coef, mean, value=-1)
                    dx = _mul(xf, coef, gx if xf is x else xf)
                    dx = dx.add_(const).addcmul_(g, scale)
                else:
                    dx = _mul(g, scale, None if g is grad_out else g)
                dx = dx.to(x.dtype)
        return dx, dw, db, None, None, None, None, None, None


class NormalizeReference(Function):
    r"""`Normalize`'s computation and gradient, one formula per line and nothing fused.

    The forward is the textbook one: mu = mean(x), var = mean((x - mu)^2) (two passes, so no
    cancellation guard), xhat = (x - mu) r, y = xhat w + b. The backward is the derivation in
    `Normalize`'s docstring as written: d = g w, then dL/dx = r (d - mean_S(d) - xhat
    mean_S(d xhat)) with batch statistics and r d with fixed ones. It keeps xhat in float32 for
    the backward and forms d and d xhat, so it costs more passes and memory than `Normalize`;
    select it with ``fused=False``.
    """

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
        """Normalize x; arguments and result as in `Normalize.forward`."""
        xf = x.to(torch.promote_types(x.dtype, torch.float32))  # half precision: float32
        if use_input_stats:
            mean = xf.mean(dims, keepdim=True)
            var = (xf - mean).square().mean(dims, keepdim=True)
            count = math.prod([x.shape[d] for d in dims])
            _update_running_stats(running_mean, running_var, mean, var, count, momentum)
        else:
            mean, var = running_mean.to(xf.dtype), running_var.to(xf.dtype)
        rstd = (var + eps).rsqrt()
        xhat = (xf - mean) * rstd
        y = xhat if weight is None else xhat * weight
        y = y if bias is None else y + bias
        ctx.save_for_backward(xhat, weight, rstd)
        ctx.dims, ctx.use_input_stats, ctx.x_dtype = dims, use_input_stats, x.dtype
        ctx.bias_shape = None if bias is None else bias.shape
        ctx.bias_dtype = None if bias is None else bias.dtype
        return y.to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        xhat, weight, rstd = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dx = dw = db = None
        g = grad_out.to(xhat.dtype)  # dL/dy
        if need_x:
            d = g if weight is None else g * weight  # dL/dxhat
            if ctx.use_input_stats:
                mean_d = d.mean(ctx.dims, keepdim=True)
                mean_d_xhat = (d * xhat).mean(ctx.dims, keepdim=True)
                dx = rstd * (d - mean_d - xhat * mean_d_xhat)
            else:
                dx = rstd * d
            dx = dx.to(ctx.x_dtype)
        if need_w:
            dw = _sum_to(g * xhat, weight.shape).to(weight.dtype)
        if need_b:
            db = _sum_to(g, ctx.bias_shape).to(ctx.bias_dtype)
        return dx, dw, db, None, None, None, None, None, None
