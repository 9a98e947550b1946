"""From-scratch convolutions with torch.nn.functional's signatures and a hand-written backward.

``conv2d`` stacks the kernel's shifted views of the padded input as the rows of a column matrix
(im2col) and applies the weight with one matmul; ``conv1d`` is ``conv2d`` with a unit height and
``conv_transpose2d`` is the adjoint of ``conv2d``. No torch convolution kernel is called.

Gradients (one group; groups are a batch of independent problems). With ``C = im2col(x)``, the
weight as a matrix ``W`` (out channels x in channels * kh * kw) and ``y = W C + b``:

- ``dL/db = sum over batch and pixels of dL/dy``.
- ``dL/dW = sum_n dL/dy[n] C[n]^T``: the correlation of the input with the output gradient.
- ``dL/dC = W^T dL/dy``, and since im2col only copies pixels, ``dL/dx = col2im(W^T dL/dy)``
  sums every column entry back onto the pixel it was copied from: a transposed convolution of
  ``dL/dy``. With stride 1 it is also a plain convolution of ``dL/dy`` with the kernel flipped
  in space and transposed in channels, padded by ``dilation * (k - 1) - padding``; that form is
  used when in channels >= out channels (it builds the smaller column matrix) or when it shifts.
- ``y = conv_transpose2d(x, W)`` is ``dL/dx`` of ``conv2d`` with ``x`` as the output gradient, so
  its input gradient is ``conv2d(dL/dy, W)`` and its weight gradient is conv2d's weight gradient
  with input and output gradient swapped. :mod:`mri_recon.nn.conv_matrix` holds the three shared
  pieces (forward, input gradient, weight gradient).

Two ways to build the products. The alternative to im2col, a sum over the kh * kw kernel
offsets of matmuls on shifted views (:mod:`mri_recon.nn.conv_shift`), copies nothing (a stride-1
input flattened with its padding makes every offset a plain strided view). Against it, im2col
built whole loses on large images, because its column matrix (kh * kw times the input) is a fresh
allocation that page-faults on first touch; built in blocks of output rows
(:data:`mri_recon.nn.conv_matrix.BLOCK_BYTES_PER_THREAD`) it wins on most of the U-Net's shapes
with 64 channels or more, and in bfloat16. It is also the accurate one in bfloat16: one matmul
rounds once, while the offset sum rounds its running total after every offset. The offset sum,
blocked too and reading the pixels channels-last, wins in the forward products of stride-1
float32 layers with 16 channels or more on large images, where im2col's copies are most of the
time; :mod:`conv_shift`'s rule sends those to it. The measurements are in docs/benchmarks.md.

Where the time goes: nearly all of it in the three matmuls (forward, input gradient, weight
gradient), since MKL's float32 matmul with few output rows (32 channels) runs well below oneDNN's
direct convolution, which never materialises the columns. Three layout choices matter most:
blocks of output rows (above); at least ``MIN_BLOCK_COLUMNS`` columns per block with the batch
folded into the weight gradient's contraction (one matmul per block, not one per sample); and, in
bfloat16, the weight gradient as ``C @ dL/dy^T`` so that the operand oneDNN copies transposed is
the small one. Each product reuses one column buffer across its blocks. Measurements, and why two
threads can stall on OpenMP's sleeping worker: docs/benchmarks.md.

Channels-last inputs are read through their strides (a 1x1 stride-1 convolution copies nothing).

Autocast: under ``torch.autocast`` float32 inputs are cast to the autocast dtype (as autocast
does for torch's convolutions: float64 is left alone), so the matmuls and the output are in
bfloat16 like aten's; the backward runs with autocast off on the saved low-precision tensors
and autograd casts the gradients back to the parameters' dtype.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mri_recon.nn.conv_autograd import Conv2dFunction, ConvTranspose2dFunction, apply_conv
from mri_recon.nn.conv_shapes import (
    IntOrPair,
    check_channels,
    check_fits,
    conv_output_size,
    conv_transpose_output_size,
    make_geometry,
    pair,
)

__all__ = [
    "conv1d",
    "conv2d",
    "conv_output_size",
    "conv_transpose2d",
    "conv_transpose_output_size",
]


def _check_tensors(op: str, x: Tensor, weight: Tensor, bias: Tensor | None, dims: int) -> None:
    if x.dim() not in (dims + 1, dims + 2):
        raise ValueError(
            f"{op}: input must be {dims + 1}D (unbatched) or {dims + 2}D, "
            f"got shape {tuple(x.shape)}"
        )
    if weight.dim() != dims + 2:
        raise ValueError(f"{op}: weight must be {dims + 2}D, got shape {tuple(weight.shape)}")
    # Under autocast the dtypes may differ (a bfloat16 activation, float32 weights): cast later.
    any_dtype = torch.is_autocast_enabled(x.device.type)
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and ((t.dtype != x.dtype and not any_dtype) or t.device != x.device):
            raise ValueError(
                f"{op}: {name} is {t.dtype} on {t.device} but input is {x.dtype} on {x.device}"
            )


def _widen(value: IntOrPair | str, name: str, fill: int, op: str) -> tuple[int, int] | str:
    """Turn a 1D argument into the 2D one for a unit height (``fill`` along the height)."""
    if isinstance(value, str):
        return value
    items = (value,) if isinstance(value, int) else tuple(value)
    if len(items) != 1:
        raise ValueError(f"{op}: {name} must be an int or a 1-tuple, got {value!r}")
    return (fill, items[0])


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair | str = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> Tensor:
    """2D cross-correlation, as ``torch.nn.functional.conv2d``.

    Args:
        input: (N, C_in, H, W) or unbatched (C_in, H, W).
        weight: (C_out, C_in / groups, kH, kW).
        bias: optional (C_out,).
        stride: int or (sH, sW).
        padding: int, (pH, pW), ``'valid'`` or ``'same'`` (stride 1 only).
        dilation: int or (dH, dW).
        groups: number of channel groups; C_in and C_out must both divide by it.

    Returns:
        (N, C_out, H_out, W_out), sizes given by :func:`conv_output_size`.
    """
    _check_tensors("conv2d", input, weight, bias, 2)
    return _conv2d("conv2d", input, weight, bias, stride, padding, dilation, groups)


def _conv2d(
    op: str,
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: IntOrPair,
    padding: IntOrPair | str,
    dilation: IntOrPair,
    groups: int,
    names: tuple[str, str] = ("height", "width"),
) -> Tensor:
    """Check the arguments of a 2D convolution (errors name ``op``) and run it."""
    kernel_hw = tuple(weight.shape[2:])
    geom = make_geometry(op, kernel_hw, stride, padding, dilation, groups)
    check_channels(op, input.shape[-3], weight.shape, groups)
    check_fits(op, input.shape[-2:], kernel_hw, geom, names)
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(
            f"{op}: bias must have shape ({weight.shape[0]},), got {tuple(bias.shape)}"
        )
    return apply_conv(Conv2dFunction, input, weight, bias, geom)


def conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair | str = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> Tensor:
    """1D cross-correlation, as ``torch.nn.functional.conv1d``: :func:`conv2d` with height 1.

    Args:
        input: (N, C_in, L) or unbatched (C_in, L).
        weight: (C_out, C_in / groups, k).
        bias: optional (C_out,).
        stride: int or 1-tuple.
        padding: int, 1-tuple, ``'valid'`` or ``'same'`` (stride 1 only).
        dilation: int or 1-tuple.
        groups: number of channel groups.

    Returns:
        (N, C_out, L_out), L_out given by :func:`conv_output_size`.
    """
    op = "conv1d"
    _check_tensors(op, input, weight, bias, 1)
    out = _conv2d(
        op,
        input.unsqueeze(-2),
        weight.unsqueeze(-2),
        bias,
        stride=_widen(stride, "stride", 1, op),
        padding=_widen(padding, "padding", 0, op),
        dilation=_widen(dilation, "dilation", 1, op),
        groups=groups,
        names=("height", "length"),
    )
    return out.squeeze(-2)


def conv_transpose2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    output_padding: IntOrPair = 0,
    groups: int = 1,
    dilation: IntOrPair = 1,
) -> Tensor:
    """2D transposed convolution, as ``torch.nn.functional.conv_transpose2d``.

    The adjoint of :func:`conv2d` with the same weight, stride, padding and dilation: its
    forward is conv2d's input gradient and its input gradient is conv2d's forward.

    Args:
        input: (N, C_in, H, W) or unbatched (C_in, H, W).
        weight: (C_in, C_out / groups, kH, kW).
        bias: optional (C_out,).
        stride: int or (sH, sW).
        padding: int or (pH, pW): rows/columns cropped from each side of the output.
        output_padding: int or (oH, oW), each smaller than the stride or the dilation: extra
            rows/columns at the bottom/right of the output.
        groups: number of channel groups.
        dilation: int or (dH, dW).

    Returns:
        (N, C_out, H_out, W_out), sizes given by :func:`conv_transpose_output_size`.
    """
    op = "conv_transpose2d"
    _check_tensors(op, input, weight, bias, 2)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a pair of ints, got {padding!r}")
    kernel_hw = tuple(weight.shape[2:])
    geom = make_geometry(op, kernel_hw, stride, padding, dilation, groups)
    extra = pair(output_padding, "output_padding", op)
    for e, s, d in zip(extra, geom.stride, geom.dilation, strict=True):
        if e < 0 or (e >= s and e >= d):
            raise ValueError(
                f"{op}: output_padding {output_padding!r} must be non-negative and smaller than "
                f"the stride {stride!r} or the dilation {dilation!r}"
            )
    c_in = input.shape[-3]
    if c_in != weight.shape[0]:
        raise ValueError(
            f"{op}: input has {c_in} channels but weight.shape[0] is {weight.shape[0]}"
        )
    check_channels(op, weight.shape[1] * groups, weight.shape, groups)
    out_hw = tuple(
        conv_transpose_output_size(n, k, s, p, d, e)
        for n, k, s, p, d, e in zip(
            input.shape[-2:],
            kernel_hw,
            geom.stride,
            geom.padding[::2],
            geom.dilation,
            extra,
            strict=True,
        )
    )
    if min(out_hw) < 1:
        raise ValueError(f"{op}: padding {padding!r} leaves an empty output of size {out_hw}")
    c_out = weight.shape[1] * groups
    if bias is not None and bias.shape != (c_out,):
        raise ValueError(f"{op}: bias must have shape ({c_out},), got {tuple(bias.shape)}")
    return apply_conv(ConvTranspose2dFunction, input, weight, bias, geom, out_hw)
