"""The convolution study's worked examples: a convolution as a matrix, output widths, gradients.

- A 1-D convolution is a matrix with one row per output: the kernel, shifted along the row by
  the stride, its taps spread by the dilation, over the zero-padded input. Built by hand here,
  it must equal ``mri_recon.nn.functional.conv1d`` and ``torch.nn.functional.conv1d``.
- Output widths follow ``floor((n + 2 p - d (k - 1) - 1) / s) + 1`` (and, for the transposed
  convolution, ``s (n - 1) - 2 p + d (k - 1) + output_padding + 1``); each is checked against
  the shape the layers actually return, in 1-D and 2-D.
- The backward: with ``y = M x``, ``dL/dx = M^T dL/dy``, ``dL/dw_j`` is the correlation of the
  input with ``dL/dy`` and ``dL/db`` the sum of ``dL/dy``. Derived by hand here and checked
  against autograd through the project's custom ``autograd.Function``, which ``gradcheck``
  checks against finite differences in float64.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from mri_recon.nn import Conv1d, Conv2d, ConvTranspose2d
from mri_recon.nn import functional as scratch


@dataclass(frozen=True)
class Geometry:
    """Stride, padding and dilation of a 1-D convolution."""

    stride: int = 1
    padding: int = 0
    dilation: int = 1

    def __str__(self) -> str:
        return f"stride {self.stride}, padding {self.padding}, dilation {self.dilation}"


def output_width(length: int, kernel: int, geometry: Geometry) -> int:
    """The number of kernel windows that fit in the padded input.

    Args:
        length: input length ``n``.
        kernel: kernel length ``k``.
        geometry: stride ``s``, padding ``p``, dilation ``d``.

    Returns:
        ``floor((n + 2 p - d (k - 1) - 1) / s) + 1``.
    """
    span = geometry.dilation * (kernel - 1) + 1  # the kernel's extent, taps spread by dilation
    return (length + 2 * geometry.padding - span) // geometry.stride + 1


def conv_matrix(weight: Tensor, length: int, geometry: Geometry) -> Tensor:
    """The matrix ``M`` with ``conv1d(x, weight) = M x``: the kernel stacked and shifted.

    Row ``i`` holds tap ``j`` of the kernel at input position ``i * stride + j * dilation -
    padding``; taps that fall on the zero padding are dropped.

    Args:
        weight: the kernel, (k,).
        length: the input length.
        geometry: stride, padding and dilation.

    Returns:
        ``M``, (output width, length).
    """
    width = output_width(length, weight.numel(), geometry)
    matrix = weight.new_zeros(width, length)
    for i, j in itertools.product(range(width), range(weight.numel())):
        column = i * geometry.stride + j * geometry.dilation - geometry.padding
        if 0 <= column < length:
            matrix[i, column] = weight[j]
    return matrix


def windows(x: Tensor, kernel: int, geometry: Geometry) -> Tensor:
    """im2col: the input values under each tap for each output.

    ``conv1d(x, w) = w @ windows(x)``: the same product as ``M x``, with the roles of input and
    kernel swapped (the form the project's convolutions compute, one matmul per block).

    Args:
        x: the input, (n,).
        kernel: the kernel length ``k``.
        geometry: stride, padding and dilation.

    Returns:
        The stacked windows, (k, output width).
    """
    padded = F.pad(x, (geometry.padding, geometry.padding))
    width = output_width(x.numel(), kernel, geometry)
    return torch.stack(
        [
            padded[
                j * geometry.dilation : j * geometry.dilation
                + (width - 1) * geometry.stride
                + 1 : geometry.stride
            ]
            for j in range(kernel)
        ]
    )


@dataclass
class WorkedExample:
    """A 1-D convolution by hand and by the libraries, forward and backward.

    Attributes:
        x: the input, (n,).
        weight: the kernel, (k,).
        bias: the bias.
        geometry: stride, padding, dilation.
        matrix: ``M`` (see :func:`conv_matrix`).
        columns: im2col (see :func:`windows`).
        by_hand: ``M x + b``.
        ours: ``mri_recon.nn.functional.conv1d``.
        torch: ``torch.nn.functional.conv1d``.
        grad_out: the upstream gradient ``dL/dy`` used for the backward.
        grads_by_hand: ``dL/dx``, ``dL/dw``, ``dL/db`` derived by hand.
        grads_autograd: the same from autograd through the project's ``Conv2dFunction``.
    """

    x: Tensor
    weight: Tensor
    bias: float
    geometry: Geometry
    matrix: Tensor
    columns: Tensor
    by_hand: Tensor
    ours: Tensor
    torch: Tensor
    grad_out: Tensor
    grads_by_hand: dict[str, Tensor]
    grads_autograd: dict[str, Tensor]

    def max_errors(self) -> dict[str, float]:
        """The largest differences between the ways of computing the same thing.

        Returns:
            By name: forward by hand vs ours and vs torch, each gradient by hand vs autograd.
        """
        errors = {
            "forward, hand vs mri_recon": float((self.by_hand - self.ours).abs().max()),
            "forward, hand vs torch": float((self.by_hand - self.torch).abs().max()),
        }
        for name, grad in self.grads_by_hand.items():
            gap = (grad - self.grads_autograd[name]).abs().max()
            errors[f"{name}, hand vs autograd"] = float(gap)
        return errors


def worked_example(
    x: Tensor, weight: Tensor, bias: float, geometry: Geometry, grad_out: Tensor | None = None
) -> WorkedExample:
    """Computes one worked example (float64).

    Args:
        x: the input, (n,).
        weight: the kernel, (k,).
        bias: the bias.
        geometry: stride, padding, dilation.
        grad_out: ``dL/dy``; None uses 1, 2, 3, ... (one per output).

    Returns:
        The example.
    """
    x, weight = x.double(), weight.double()
    matrix = conv_matrix(weight, x.numel(), geometry)
    if grad_out is None:
        grad_out = torch.arange(1, matrix.shape[0] + 1, dtype=torch.float64)
    columns = windows(x, weight.numel(), geometry)
    leaves = [
        t.clone().requires_grad_() for t in (x, weight, torch.tensor([bias], dtype=torch.float64))
    ]
    args = {"stride": geometry.stride, "padding": geometry.padding, "dilation": geometry.dilation}
    ours = scratch.conv1d(leaves[0][None, None], leaves[1][None, None], leaves[2], **args)[0, 0]
    ours.backward(grad_out)
    reference = F.conv1d(x[None, None], weight[None, None], torch.tensor([bias]).double(), **args)
    return WorkedExample(
        x=x,
        weight=weight,
        bias=bias,
        geometry=geometry,
        matrix=matrix,
        columns=columns,
        by_hand=matrix @ x + bias,
        ours=ours.detach(),
        torch=reference[0, 0],
        grad_out=grad_out,
        grads_by_hand={
            "dL/dx": matrix.T @ grad_out,
            "dL/dw": columns @ grad_out,
            "dL/db": grad_out.sum().reshape(1),
        },
        grads_autograd={"dL/dx": leaves[0].grad, "dL/dw": leaves[1].grad, "dL/db": leaves[2].grad},
    )


def width_table(quick: bool = False) -> list[dict[str, Any]]:
    """Output widths by formula against the layers' output shapes, in 1-D and 2-D.

    Each row runs ``mri_recon.nn``'s layer and ``torch.nn``'s twin on an input of the given size
    and records the formula's width and both layers' widths.

    Args:
        quick: fewer cases.

    Returns:
        One row per case: layer, input size, kernel, stride, padding, dilation, formula, layers.
    """
    lengths = (8,) if quick else (7, 8, 16)
    kernels = (1, 3) if quick else (1, 2, 3, 5)
    rows = []
    for n, k, s, p, d in itertools.product(lengths, kernels, (1, 2, 3), (0, 1, 2), (1, 2)):
        geometry = Geometry(s, p, d)
        formula = output_width(n, k, geometry)
        if formula < 1:
            continue
        x = torch.zeros(1, 1, n)
        layer = Conv1d(1, 1, k, stride=s, padding=p, dilation=d)
        twin = torch.nn.Conv1d(1, 1, k, stride=s, padding=p, dilation=d)
        case = {"layer": "Conv1d", "input": str(n), "kernel": str(k)}
        rows.append(
            {
                **case,
                **_geometry(s, p, d),
                "formula": str(formula),
                "mri_recon": str(layer(x).shape[-1]),
                "torch": str(twin(x).shape[-1]),
            }
        )
    sizes = ((8, 7),) if quick else ((8, 7), (16, 11))
    for (h, w), (kh, kw), s, p, d in itertools.product(
        sizes, ((3, 3), (2, 3)), (1, 2), (0, 1), (1, 2)
    ):
        x = torch.zeros(1, 1, h, w)
        formula = tuple(output_width(n, k, Geometry(s, p, d)) for n, k in ((h, kh), (w, kw)))
        layer = Conv2d(1, 1, (kh, kw), stride=s, padding=p, dilation=d)
        twin = torch.nn.Conv2d(1, 1, (kh, kw), stride=s, padding=p, dilation=d)
        case = {"layer": "Conv2d", "input": f"{h}x{w}", "kernel": f"{kh}x{kw}"}
        rows.append(
            {
                **case,
                **_geometry(s, p, d),
                "formula": "x".join(map(str, formula)),
                "mri_recon": _hw(layer(x)),
                "torch": _hw(twin(x)),
            }
        )
    for (h, w), k, s, p in itertools.product(sizes, (2, 3), (1, 2), (0, 1)):
        x = torch.zeros(1, 1, h, w)
        formula = tuple(scratch.conv_transpose_output_size(n, k, s, p) for n in (h, w))
        layer = ConvTranspose2d(1, 1, k, stride=s, padding=p)
        twin = torch.nn.ConvTranspose2d(1, 1, k, stride=s, padding=p)
        case = {"layer": "ConvTranspose2d", "input": f"{h}x{w}", "kernel": f"{k}x{k}"}
        rows.append(
            {
                **case,
                **_geometry(s, p, 1),
                "formula": "x".join(map(str, formula)),
                "mri_recon": _hw(layer(x)),
                "torch": _hw(twin(x)),
            }
        )
    return rows


def _geometry(stride: int, padding: int, dilation: int) -> dict[str, int]:
    return {"stride": stride, "padding": padding, "dilation": dilation}


def _hw(y: Tensor) -> str:
    return f"{y.shape[-2]}x{y.shape[-1]}"


def gradchecks(quick: bool = False) -> dict[str, bool]:
    """``torch.autograd.gradcheck`` of the project's functional convolutions (float64).

    gradcheck compares the Jacobian the custom backward implies with finite differences of the
    forward, for the input, the weight and the bias at once.

    Args:
        quick: smaller tensors.

    Returns:
        Whether each case passed, by a description of the case.
    """
    size = 5 if quick else 7
    gen = torch.Generator().manual_seed(0)

    def rand(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=gen, dtype=torch.float64, requires_grad=True)

    cases = {
        "conv1d, stride 2, padding 1, dilation 2": (
            scratch.conv1d, (rand(2, 2, 3 * size), rand(3, 2, 3), rand(3)),
            {"stride": 2, "padding": 1, "dilation": 2},
        ),
        "conv2d, 3x3, padding 1": (
            scratch.conv2d, (rand(2, 2, size, size), rand(3, 2, 3, 3), rand(3)), {"padding": 1},
        ),
        "conv2d, 2x3, stride 2, dilation (1, 2), 2 groups": (
            scratch.conv2d, (rand(1, 4, size, size + 2), rand(4, 2, 2, 3), rand(4)),
            {"stride": 2, "dilation": (1, 2), "groups": 2},
        ),
        "conv_transpose2d, 2x2, stride 2 (the U-Net's upsampling)": (
            scratch.conv_transpose2d, (rand(2, 3, size, size), rand(3, 2, 2, 2), rand(2)),
            {"stride": 2},
        ),
    }  # fmt: skip
    results = {}
    for name, (function, inputs, options) in cases.items():
        results[name] = torch.autograd.gradcheck(
            lambda *tensors, f=function, o=options: f(*tensors, **o), inputs, raise_exception=False
        )
    return results
