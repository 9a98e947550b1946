"""The convolution's three products as torch operators where ``torch.compile`` traces them.

Traced op by op, one product unrolls into its row blocks (:mod:`mri_recon.nn.conv_matrix`):
hundreds of views, copies and matmuls per layer, and a fastMRI-size U-Net took 488 s to compile
and 151 s again in every new process (2-core CPU; docs/benchmarks.md, "Compiled"). Registered
with ``torch.library.custom_op``, each product is one node of the graph, as torch's own
convolution is: inductor fuses the norms and activations around it and calls the eager kernel
for it. Each operator's fake function gives the output's shape and strides (contiguous) without
computing it.

Eagerly the functions below call :mod:`mri_recon.nn.conv_matrix` directly: no dispatch, and a
double backward still differentiates through the products' torch operations.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from mri_recon.nn import conv_matrix
from mri_recon.nn.conv_shapes import ConvGeometry


def _operator(
    name: str,
    product: Callable[[Tensor, Tensor, tuple[int, int], ConvGeometry], Tensor],
    shape: Callable[[Tensor, Tensor, list[int], int], list[int]],
) -> Callable[[Tensor, Tensor, tuple[int, int], ConvGeometry], Tensor]:
    """``product(a, b, size, geometry)`` as it runs: directly when eager, as the operator
    ``mri_recon::name`` under ``torch.compile``. The operator's output is contiguous; its fake
    has shape ``shape(a, b, size, groups)`` and ``a``'s dtype."""

    def run(
        a: Tensor,
        b: Tensor,
        size: list[int],
        stride: list[int],
        padding: list[int],
        dilation: list[int],
        groups: int,
    ) -> Tensor:
        geom = ConvGeometry(tuple(stride), tuple(padding), tuple(dilation), groups)
        return product(a, b, tuple(size), geom).contiguous()

    def fake(a, b, size, stride, padding, dilation, groups):
        return a.new_empty(shape(a, b, size, groups))

    operator = torch.library.custom_op(f"mri_recon::{name}", run, mutates_args=())
    operator.register_fake(fake)

    def call(a: Tensor, b: Tensor, size: tuple[int, int], geom: ConvGeometry) -> Tensor:
        if not torch.compiler.is_compiling():
            return product(a, b, size, geom)
        geometry = list(geom.stride), list(geom.padding), list(geom.dilation), geom.groups
        return operator(a, b, list(size), *geometry)

    return call


_conv2d = _operator(
    "conv2d",
    lambda x, weight, out_hw, geom: conv_matrix.conv_forward(x, weight, geom, out_hw),
    lambda x, weight, out_hw, groups: [x.shape[0], weight.shape[0], *out_hw],
)
conv_input_grad = _operator(
    "conv2d_input_grad",
    conv_matrix.conv_input_grad,
    lambda grad_out, weight, input_hw, groups: [
        grad_out.shape[0], weight.shape[1] * groups, *input_hw
    ],
)  # fmt: skip
"""(grad_out, weight, input_hw, geom): :func:`mri_recon.nn.conv_matrix.conv_input_grad`."""
conv_weight_grad = _operator(
    "conv2d_weight_grad",
    conv_matrix.conv_weight_grad,
    lambda x, grad_out, kernel_hw, groups: [grad_out.shape[1], x.shape[1] // groups, *kernel_hw],
)
"""(x, grad_out, kernel_hw, geom): :func:`mri_recon.nn.conv_matrix.conv_weight_grad`."""


def conv_forward(
    x: Tensor, weight: Tensor, geom: ConvGeometry, out_hw: tuple[int, int] | None = None
) -> Tensor:
    """:func:`mri_recon.nn.conv_matrix.conv_forward` (the operator needs ``out_hw``)."""
    return _conv2d(
        x, weight, out_hw or conv_matrix.output_hw(x.shape[2:], weight.shape[2:], geom), geom
    )
