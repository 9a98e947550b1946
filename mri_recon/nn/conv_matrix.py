"""Convolution as matrix products: im2col, col2im and the three products they serve.

A 2D convolution with kernel (kh, kw) stacks, for every output pixel, the kh * kw shifted copies
of the (padded) input that the kernel's taps see: ``cols[n, g, (c, i, j), (y, x)] =
xpad[n, g * Cg + c, y * sh + i * dh, x * sw + j * dw]`` (im2col). With the weight viewed as a
matrix ``W[g]`` of shape (O / G, Cg * kh * kw) the convolution is one batched matmul,
``out[n, g] = W[g] @ cols[n, g]``. Differentiating that one line gives the backward:

- ``d cols[n, g] = W[g]^T @ d out[n, g]``; each column entry came from one input pixel, so the
  input gradient sums the columns back onto the pixels they were copied from (col2im, the
  adjoint of im2col) and crops the padding. This is a transposed convolution of ``d out``.
- ``d W[g] = sum_n d out[n, g] @ cols[n, g]^T``: a correlation of the output gradient with the
  input, computed as one matmul with the batch joined to the contraction.

A transposed convolution is the adjoint of a forward convolution with the same weight, so its
forward is :func:`conv_input_grad`, its input gradient is :func:`conv_forward` and its weight
gradient is :func:`conv_weight_grad` with the roles of input and output gradient swapped.

Each product runs over blocks of output rows (:func:`row_blocks`), so no column matrix is larger
than a few MiB however large the image.

The forward product of a stride-1 convolution with 16 channels or more on a large grid (and with it
the flipped input gradient) is faster without columns: :func:`conv_forward` hands those to
:mod:`mri_recon.nn.conv_shift`, which sums one matrix product per kernel tap.

All functions take tensors already checked by :mod:`mri_recon.nn.conv_shapes`, in any memory
layout (channels-last included): im2col reads through strides, so a 1x1 stride-1 convolution
without padding copies nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from mri_recon.nn import conv_shift
from mri_recon.nn.conv_shapes import ConvGeometry, conv_output_size

# Columns are built and multiplied in blocks of output rows, each thread's share of a block at
# most this many bytes: small blocks stay in cache for the matmul that follows, and large fresh
# allocations are mmap'd and page-fault on first touch. Block sizes measured: docs/benchmarks.md.
BLOCK_BYTES_PER_THREAD = 2 * 2**20
MIN_BLOCK_COLUMNS = 1024


def pad2d(
    x: Tensor, geom: ConvGeometry, memory_format: torch.memory_format = torch.contiguous_format
) -> Tensor:
    """Surround (N, C, H, W) ``x`` with the geometry's zero padding, laid out in
    ``memory_format`` (no copy when there is no padding)."""
    top, bottom, left, right = geom.padding
    if top == bottom == left == right == 0:
        return x
    n, c, h, w = x.shape
    size = (n, c, h + top + bottom, w + left + right)
    out = torch.empty(size, dtype=x.dtype, device=x.device, memory_format=memory_format)
    out[:, :, top : top + h, left : left + w] = x
    # Zero only the border: zero-filling the whole buffer first is a visible share of a 3x3 conv.
    out[:, :, :top].zero_()
    out[:, :, top + h :].zero_()
    out[:, :, top : top + h, :left].zero_()
    out[:, :, top : top + h, left + w :].zero_()
    return out


def row_blocks(rows: int, width: int, bytes_per_row: int) -> list[tuple[int, int]]:
    """Split ``rows`` output rows of ``width`` pixels into blocks for the matmuls.

    A block's columns take at most ``BLOCK_BYTES_PER_THREAD`` per thread, but a block has at least
    ``MIN_BLOCK_COLUMNS`` pixels: narrower matmuls run far below peak (one row of the U-Net's
    deepest map, 512 channels at 20 px, is 4608 x 20 columns; see docs/benchmarks.md).
    """
    block_bytes = BLOCK_BYTES_PER_THREAD * torch.get_num_threads()
    step = max(-(-MIN_BLOCK_COLUMNS // width), block_bytes // max(1, bytes_per_row))
    return [(r, min(r + step, rows)) for r in range(0, rows, step)]


def windows(
    xp: Tensor,
    kernel_hw: tuple[int, int],
    out_hw: tuple[int, int],
    geom: ConvGeometry,
    rows: tuple[int, int] | None = None,
) -> Tensor:
    """The kernel's shifted views of a padded input, without copying.

    Args:
        xp: padded input, (N, C, Hp, Wp), any strides.
        kernel_hw: (kh, kw).
        out_hw: (Ho, Wo), the output size (at most what the padded input allows).
        geom: the convolution's geometry (its padding is already applied).
        rows: (first, stop) range of output rows; all when None.

    Returns:
        (N, G, C / G, kh, kw, R, Wo) view: ``[n, g, c, i, j, y, x] = xp[n, g * C / G + c,
        (first + y) * sh + i * dh, x * sw + j * dw]`` for the R requested rows.
    """
    c = xp.shape[1]
    kh, kw = kernel_hw
    first, stop = rows or (0, out_hw[0])
    (dh, dw), (sh, sw) = geom.dilation, geom.stride
    # unfold's windows span the dilated kernel; every dh-th (dw-th) element is a tap.
    taps = xp.unfold(2, dh * (kh - 1) + 1, sh).unfold(3, dw * (kw - 1) + 1, sw)
    taps = taps[:, :, first:stop, : out_hw[1], ::dh, ::dw]  # (N, C, R, Wo, kh, kw)
    return taps.unflatten(1, (geom.groups, c // geom.groups)).permute(0, 1, 2, 5, 6, 3, 4)


def im2col(
    xp: Tensor,
    kernel_hw: tuple[int, int],
    out_hw: tuple[int, int],
    geom: ConvGeometry,
    rows: tuple[int, int] | None = None,
    buffer: Tensor | None = None,
) -> Tensor:
    """Stack the kernel's shifted views of a padded input as columns (arguments of :func:`windows`).

    A needed copy goes into ``buffer`` (see :func:`gather`) when one is given.

    Returns:
        (N, G, C / G * kh * kw, R * Wo) columns for the R requested rows; a view when no copy
        is needed.
    """
    view = windows(xp, kernel_hw, out_hw, geom, rows)
    n, g, cg, kh, kw, r, wo = view.shape
    return gather(view, (n, g, cg * kh * kw, r * wo), buffer)


def gather(view: Tensor, shape: tuple[int, ...], buffer: Tensor | None = None) -> Tensor:
    """``view.reshape(shape)``, copying into the front of ``buffer`` (1D) when a copy is needed.

    ``shape`` merges runs of ``view``'s consecutive dims. Row-block loops pass one buffer for all
    their blocks instead of allocating a block each time, which saves the allocations' page
    faults (measured in docs/benchmarks.md).
    """
    if buffer is None:
        return view.reshape(shape)
    if merges_without_copy(view, shape):
        return view.view(shape)
    return buffer[: view.numel()].view(view.shape).copy_(view).view(shape)


def merges_without_copy(view: Tensor, shape: tuple[int, ...]) -> bool:
    """Whether ``view.view(shape)`` works, for a ``shape`` (one entry may be -1) that merges runs
    of ``view``'s consecutive dims: within a run each dim must step by the next dim's whole extent.

    Asked before trying: a failed ``view`` raises, and inside the products' custom operators under
    torch.compile that exception was a measurable share of a step (docs/benchmarks.md, "Compiled").
    """
    if view.numel() == 0:
        return False
    dims = [(size, step) for size, step in zip(view.shape, view.stride(), strict=True) if size != 1]
    known = math.prod(size for size in shape if size != -1)
    position = 0
    for size in (view.numel() // known if size == -1 else size for size in shape):
        run = 1
        while run < size:
            inner, inner_step = dims[position]
            if run > 1 and dims[position - 1][1] != inner * inner_step:
                return False
            run *= inner
            position += 1
        if run != size:
            return False  # not a merge of whole dims
    return True


def col2im_add(
    cols: Tensor, out: Tensor, rows: tuple[int, int], kernel_hw: tuple[int, int], geom: ConvGeometry
) -> None:
    """Add columns back onto the padded input positions they were taken from (adjoint of im2col).

    Args:
        cols: (N, G, C / G * kh * kw, R * Wo) columns of output rows ``rows``.
        out: (N, C, Hp, Wp) padded-input-shaped tensor, updated in place.
        rows: (first, stop) output rows the columns belong to.
        kernel_hw: (kh, kw).
        geom: the convolution's geometry.
    """
    n, c = out.shape[:2]
    kh, kw = kernel_hw
    first, stop = rows
    taps = cols.reshape(n, c, kh, kw, stop - first, -1)
    wo = taps.shape[-1]
    (dh, dw), (sh, sw) = geom.dilation, geom.stride
    for i in range(kh):
        for j in range(kw):
            top, left = first * sh + i * dh, j * dw
            target = out[
                :,
                :,
                top : top + sh * (stop - first - 1) + 1 : sh,
                left : left + sw * (wo - 1) + 1 : sw,
            ]
            target.add_(taps[:, :, i, j])


def output_hw(
    input_hw: Sequence[int], kernel_hw: Sequence[int], geom: ConvGeometry
) -> tuple[int, int]:
    """(Ho, Wo): every output position the padded input allows for this kernel and geometry
    (:func:`conv_output_size` of the padded sides: the padding may differ before and after)."""
    top, bottom, left, right = geom.padding
    padded = (input_hw[0] + top + bottom, input_hw[1] + left + right)
    return tuple(
        conv_output_size(p, k, stride=s, dilation=d)
        for p, k, s, d in zip(padded, kernel_hw, geom.stride, geom.dilation, strict=True)
    )


def conv_forward(
    x: Tensor, weight: Tensor, geom: ConvGeometry, out_hw: tuple[int, int] | None = None
) -> Tensor:
    """Convolve an input with a weight: im2col, or tap by tap where
    :func:`mri_recon.nn.conv_shift.suits` says that is faster.

    Args:
        x: (N, C, H, W) input.
        weight: (O, C / G, kh, kw) weight.
        geom: the convolution's geometry.
        out_hw: (Ho, Wo) to compute; all the padded input allows when None.

    Returns:
        (N, O, Ho, Wo) output.
    """
    n = x.shape[0]
    o, cg, kh, kw = weight.shape
    g = geom.groups
    out_hw = out_hw or output_hw(x.shape[2:], (kh, kw), geom)
    if conv_shift.suits(weight.shape, geom, x.dtype, x.shape):
        return conv_shift.forward(pad2d(x, geom, torch.channels_last), weight, out_hw, geom)
    xp = pad2d(x, geom)
    w = weight.reshape(g, o // g, cg * kh * kw)
    blocks = row_blocks(out_hw[0], out_hw[1], n * g * w.shape[2] * out_hw[1] * x.element_size())
    result = x.new_empty(n, o, *out_hw)  # not a view: in-place ops on the output need that
    out = result.view(n, g, o // g, out_hw[0] * out_hw[1])
    if len(blocks) == 1:
        torch.matmul(w, im2col(xp, (kh, kw), out_hw, geom), out=out)
        return result
    rows = blocks[0][1] - blocks[0][0]
    buffer = x.new_empty(n * g * w.shape[2] * rows * out_hw[1])
    for first, stop in blocks:  # each block's product straight into its columns of the output
        cols = im2col(xp, (kh, kw), out_hw, geom, (first, stop), buffer)
        torch.matmul(w, cols, out=out[..., first * out_hw[1] : stop * out_hw[1]])
    return result


def conv_input_grad(
    grad_out: Tensor, weight: Tensor, input_hw: tuple[int, int], geom: ConvGeometry
) -> Tensor:
    """Gradient of :func:`conv_forward` with respect to its input (a transposed convolution).

    Args:
        grad_out: (N, O, Ho, Wo) gradient of the output.
        weight: (O, C / G, kh, kw) weight.
        input_hw: (H, W) of the input.
        geom: the convolution's geometry.

    Returns:
        (N, C, H, W) gradient of the input.
    """
    n, o, ho, wo = grad_out.shape
    _, cg, kh, kw = weight.shape
    g = geom.groups
    # The flipped form builds columns of dout (O * kh * kw rows), the col2im form multiplies into
    # columns of dx (C * kh * kw rows): take the smaller (measured equal or faster when C >= O),
    # or the flipped form whenever it shifts (no columns at all).
    flipped = _flipped_geometry(geom, (kh, kw), input_hw, (ho, wo))
    flipped_shape = (g * cg, o // g, kh, kw)
    if flipped is not None and (
        cg * g >= o or conv_shift.suits(flipped_shape, flipped, grad_out.dtype, grad_out.shape)
    ):
        w_flip = weight.reshape(g, o // g, cg, kh, kw).transpose(1, 2).flip(-2, -1)
        return conv_forward(grad_out, w_flip.reshape(flipped_shape), flipped, input_hw)
    w_t = weight.reshape(g, o // g, cg * kh * kw).transpose(1, 2)
    grad = grad_out.reshape(n, g, o // g, ho * wo)
    top, bottom, left, right = geom.padding
    full = grad_out.new_zeros(n, cg * g, input_hw[0] + top + bottom, input_hw[1] + left + right)
    bytes_per_row = n * g * w_t.shape[1] * wo * grad_out.element_size()
    for first, stop in row_blocks(ho, wo, bytes_per_row):
        cols = torch.matmul(w_t, grad[..., first * wo : stop * wo])
        col2im_add(cols, full, (first, stop), (kh, kw), geom)
    crop = full[:, :, top : top + input_hw[0], left : left + input_hw[1]]
    return crop if any(geom.padding) else full  # full is not a view: see conv_forward


def _flipped_geometry(
    geom: ConvGeometry, kernel_hw: tuple[int, int], input_hw: tuple[int, int], out_hw
) -> ConvGeometry | None:
    """Geometry of the stride-1 input gradient as a forward convolution, or None if it has none.

    With stride 1, ``out[y] = sum_i w[i] x[y + i d - top]`` gives ``dx[u] = sum_i w[k - 1 - i]
    dout[u + i d - ((k - 1) d - top)]``: a forward convolution of ``dout`` with the flipped,
    transposed kernel, padded by ``(k - 1) d - top`` before and by whatever makes the output
    ``H`` long after; neither may be negative.
    """
    if geom.stride != (1, 1):
        return None
    padding: list[int] = []
    for d, k, before, size, out in zip(
        geom.dilation, kernel_hw, geom.padding[::2], input_hw, out_hw, strict=True
    ):
        reach = d * (k - 1)
        padding += [reach - before, size - out + before]
    if min(padding) < 0:
        return None
    return ConvGeometry(geom.stride, tuple(padding), geom.dilation, geom.groups)


def conv_weight_grad(
    x: Tensor, grad_out: Tensor, kernel_hw: tuple[int, int], geom: ConvGeometry
) -> Tensor:
    """Gradient of :func:`conv_forward` with respect to its weight.

    Blocks' partial sums are added in float32 at least, so a bfloat16 gradient is rounded once.

    Args:
        x: (N, C, H, W) input.
        grad_out: (N, O, Ho, Wo) gradient of the output.
        kernel_hw: (kh, kw).
        geom: the convolution's geometry.

    Returns:
        (O, C / G, kh, kw) gradient of the weight.
    """
    n, c = x.shape[:2]
    _, o, ho, wo = grad_out.shape
    g = geom.groups
    k = c // g * kernel_hw[0] * kernel_hw[1]
    xp = pad2d(x, geom)
    grad = grad_out.reshape(n, g, o // g, ho, wo)
    blocks = row_blocks(ho, wo, n * g * k * wo * x.element_size())
    pixels = n * (blocks[0][1] - blocks[0][0]) * wo  # the largest block's
    cols_buffer, grad_buffer = x.new_empty(g * k * pixels), grad_out.new_empty(o * pixels)
    total = None
    for first, stop in blocks:
        # The batch joins the contraction: one (K x N*R*Wo) @ (N*R*Wo x O/G) matmul per group, with
        # the small output-gradient operand transposed (oneDNN would copy a transposed large one).
        view = windows(xp, kernel_hw, (ho, wo), geom, (first, stop)).permute(1, 2, 3, 4, 0, 5, 6)
        cols = gather(view, (g, k, -1), cols_buffer)
        grad_view = grad[:, :, :, first:stop].permute(1, 0, 3, 4, 2)
        grad_t = gather(grad_view, (g, -1, o // g), grad_buffer)
        part = torch.matmul(cols, grad_t)
        total = (
            part.to(torch.promote_types(part.dtype, torch.float32))
            if total is None
            else total.add_(part)
        )
    return total.to(x.dtype).transpose(1, 2).reshape(o, c // g, *kernel_hw)
