"""Autograd wiring of the from-scratch convolutions: custom Functions and autocast casting.

The Functions save the input and weight, recompute im2col in the backward (saving the column
matrix would cost kh * kw times the input's memory per layer) and compute only the gradients
that ``needs_input_grad`` asks for. The derivation is in :mod:`mri_recon.nn.conv_functional`;
the products come through :mod:`mri_recon.nn.conv_ops`, which makes each one a single operator
where ``torch.compile`` traces them.

Memory format: the output and the input gradient come back in the format torch's convolutions
give them, channels-last when the input or the weight is channels-last (torch's own stride test,
:func:`memory_format`), else contiguous. The products compute into contiguous buffers; one copy
(which also adds the bias) rearranges them.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd import Function

from mri_recon.nn.conv_ops import conv_forward, conv_input_grad, conv_weight_grad
from mri_recon.nn.conv_shapes import ConvGeometry


def _strides_like_channels_last(t: Tensor) -> bool:
    """Whether torch reads a 4D tensor's strides as channels-last (size-1 ambiguity included).

    The dimensions C, W, H, N must have non-decreasing strides, each at least the span of the
    previous one; an N111-like tensor whose batch stride equals its channel stride counts as
    contiguous, as in torch's ``is_channels_last_strides_2d``.
    """
    if t.dim() != 4 or t.stride(1) == 0:
        return False
    least = 0
    for d in (1, 3, 2, 0):
        size, stride = t.shape[d], t.stride(d)
        if size == 0 or stride < least or (d == 0 and least == t.stride(1)):
            return False
        least = stride * size if size > 1 else stride
    return True


def memory_format(x: Tensor, weight: Tensor) -> torch.memory_format:
    """The memory format torch's convolutions give their output for this input and weight."""
    channels_last = _strides_like_channels_last(x) or _strides_like_channels_last(weight)
    return torch.channels_last if channels_last else torch.contiguous_format


def _finish(out: Tensor, bias: Tensor | None, fmt: torch.memory_format) -> Tensor:
    """``out + bias`` (bias per channel, optional) laid out in memory format ``fmt``."""
    out = out if bias is None else out.add_(bias.view(1, -1, 1, 1))
    return out.contiguous(memory_format=fmt)


class Conv2dFunction(Function):
    """y = conv(x, W) + b, with the gradients of :mod:`mri_recon.nn.conv_matrix`."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, geom: ConvGeometry) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.geom, ctx.has_bias, ctx.fmt = geom, bias is not None, memory_format(x, weight)
        return _finish(conv_forward(x, weight, geom), bias, ctx.fmt)

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        with torch.autocast(grad_out.device.type, enabled=False):
            grad_x = grad_w = grad_b = None
            if ctx.needs_input_grad[0]:
                grad_x = conv_input_grad(grad_out, weight, x.shape[2:], ctx.geom)
                grad_x = grad_x.contiguous(memory_format=ctx.fmt)
            if ctx.needs_input_grad[1]:
                grad_w = conv_weight_grad(x, grad_out, weight.shape[2:], ctx.geom)
            if ctx.has_bias and ctx.needs_input_grad[2]:
                grad_b = grad_out.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None


class ConvTranspose2dFunction(Function):
    """y = conv^T(x, W) + b: the adjoint of a forward convolution with the same weight."""

    @staticmethod
    def forward(
        ctx,
        x: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        geom: ConvGeometry,
        out_hw: tuple[int, int],
    ) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.geom, ctx.has_bias, ctx.fmt = geom, bias is not None, memory_format(x, weight)
        return _finish(conv_input_grad(x, weight, out_hw, geom), bias, ctx.fmt)

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        with torch.autocast(grad_out.device.type, enabled=False):
            grad_x = grad_w = grad_b = None
            if ctx.needs_input_grad[0]:
                grad_x = conv_forward(grad_out, weight, ctx.geom, x.shape[2:])
                grad_x = grad_x.contiguous(memory_format=ctx.fmt)
            if ctx.needs_input_grad[1]:
                grad_w = conv_weight_grad(grad_out, x, weight.shape[2:], ctx.geom)
            if ctx.has_bias and ctx.needs_input_grad[2]:
                grad_b = grad_out.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None, None


def _autocast(
    x: Tensor, weight: Tensor, bias: Tensor | None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Cast floating inputs to the autocast dtype, as autocast does for torch's convolutions."""
    device = x.device.type
    if not torch.is_autocast_enabled(device) or x.dtype == torch.float64:
        return x, weight, bias
    dtype = torch.get_autocast_dtype(device)
    return x.to(dtype), weight.to(dtype), None if bias is None else bias.to(dtype)


def apply_conv(
    function: type[Function], x: Tensor, weight: Tensor, bias: Tensor | None, *args
) -> Tensor:
    """Run ``function`` on a batched input under this call's autocast rules.

    Args:
        function: :class:`Conv2dFunction` or :class:`ConvTranspose2dFunction`.
        x: (N, C, H, W) or unbatched (C, H, W) input.
        weight: the weight.
        bias: optional bias.
        *args: the function's remaining arguments (geometry, output size).

    Returns:
        The output, unbatched when ``x`` was.
    """
    unbatched = x.dim() == 3
    x, weight, bias = _autocast(x.unsqueeze(0) if unbatched else x, weight, bias)
    with torch.autocast(x.device.type, enabled=False):
        out = function.apply(x, weight, bias, *args)
    return out.squeeze(0) if unbatched else out
