"""Stride-1 convolution by shifting the kernel: one matrix product per kernel tap, no columns.

Number the pixels of the padded inputs one after another, ``p = (n * Hp + y) * Wp + x``, and
let ``rows[p]`` hold pixel p's C channels (the channels-last layout). The tap (i, j) of a
stride-1 convolution reads, for the output pixel at p, the input pixel at ``p + i * dh * Wp + j *
dw``. So over all positions p at once,

    out[p] = sum_(i, j) rows[p + i * dh * Wp + j * dw] @ W[:, :, i, j]^T,

and each term is one matrix product of a slice of ``rows`` (a view: nothing copied) with the
tap's (C, O) weight. im2col (:mod:`mri_recon.nn.conv_matrix`) instead copies the kh * kw shifted
inputs into one column matrix and multiplies once. Positions whose x or y lies past the output
wrap into the next row or image: they are computed and dropped.

The stride-1 input gradient is itself a forward convolution with the flipped kernel
(``conv_matrix.conv_input_grad``), so it shifts too. The weight gradient stays with im2col: tap
by tap (``dW[:, :, i, j] = sum_p dout[p]^T rows[p + offset]``) it measured faster alone on some
layers, yet no faster in a whole compiled training step (docs/benchmarks.md, "Compiled").

Shifting saves im2col's copies (kh * kw times the input) and pays with thinner products (C
deep instead of C * kh * kw), so it wins on large grids from 16 channels, and im2col wins with
fewer channels or on small grids, where its copies stay in cache (the rule below; measured per
layer and per step in docs/benchmarks.md, "Compiled"). Each tap's product is added into the
output, so the path is kept to float32 and float64: in bfloat16 every tap would round the
running sum.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from mri_recon.nn.conv_shapes import ConvGeometry

# The rule for taking this path, from per-layer measurements (docs/benchmarks.md, "Compiled"):
# the forward product (and with it the stride-1 input gradient) shifts from this many input
# channels, on grids of at least this many positions.
MIN_IN_CHANNELS = 16
MIN_GRID_POSITIONS = 4096
# The positions are processed in blocks whose input and output rows take at most this many bytes
# per thread, so that they stay in cache over the kh * kw taps.
BLOCK_BYTES_PER_THREAD = 2 * 2**20


def suits(
    weight_shape: Sequence[int], geom: ConvGeometry, dtype: torch.dtype, input_shape: Sequence[int]
) -> bool:
    """Whether the forward product of this (O, C, kh, kw) weight over an (N, C, H, W) input is
    faster shifted: stride 1, one group, more than one tap, float32 or float64, and the rule's
    channels and grid size."""
    n, _, h, w = input_shape
    top, bottom, left, right = geom.padding
    kh, kw = weight_shape[2:]
    return (
        geom.stride == (1, 1)
        and geom.groups == 1
        and kh * kw > 1
        and dtype in (torch.float32, torch.float64)
        and weight_shape[1] >= MIN_IN_CHANNELS
        and n * (h + top + bottom) * (w + left + right) >= MIN_GRID_POSITIONS
    )


def _rows(xp: Tensor) -> Tensor:
    """The padded input's pixels as rows of channels, (N * Hp * Wp, C): the grid, read in
    channels-last order (a view when ``xp`` is channels-last)."""
    n, c, hp, wp = xp.shape
    return xp.permute(0, 2, 3, 1).contiguous().view(n * hp * wp, c)


def _blocks(length: int, channels: int, element_size: int) -> list[tuple[int, int]]:
    """(first, stop) ranges of grid positions, each block's ``channels`` rows at most
    ``BLOCK_BYTES_PER_THREAD`` per thread."""
    step = max(1, BLOCK_BYTES_PER_THREAD * torch.get_num_threads() // (channels * element_size))
    return [(first, min(first + step, length)) for first in range(0, length, step)]


def _offsets(kernel_hw: tuple[int, int], dilation: tuple[int, int], width: int) -> list[int]:
    """Each tap's shift on a grid ``width`` wide, taps in the weight's (i, j) order."""
    (kh, kw), (dh, dw) = kernel_hw, dilation
    return [i * dh * width + j * dw for i in range(kh) for j in range(kw)]


def forward(xp: Tensor, weight: Tensor, out_hw: tuple[int, int], geom: ConvGeometry) -> Tensor:
    """Convolve a padded input with a weight, tap by tap (stride 1, one group).

    Args:
        xp: (N, C, Hp, Wp) padded input, channels-last for no copy.
        weight: (O, C, kh, kw) weight.
        out_hw: (Ho, Wo), at most what the padded input allows.
        geom: the convolution's geometry (its padding is already applied).

    Returns:
        (N, O, Ho, Wo) contiguous output.
    """
    n, c, hp, wp = xp.shape
    o, _, kh, kw = weight.shape
    rows = _rows(xp)
    # Positions up to the last image's last output pixel: the later ones feed nothing.
    length = (n - 1) * hp * wp + (out_hw[0] - 1) * wp + out_hw[1]
    taps = weight.permute(2, 3, 1, 0).reshape(kh * kw, c, o)
    grid = xp.new_empty(n * hp * wp, o)
    offsets = _offsets((kh, kw), geom.dilation, wp)
    for first, stop in _blocks(length, c + o, xp.element_size()):
        out = grid[first:stop]
        for tap, offset in enumerate(offsets):
            # beta 0 for the first tap: the empty grid's contents are ignored, NaNs included.
            out.addmm_(rows[first + offset : stop + offset], taps[tap], beta=min(tap, 1))
    ho, wo = out_hw
    return grid.view(n, hp, wp, o)[:, :ho, :wo].permute(0, 3, 1, 2).contiguous()
