"""Convolution modules over the from-scratch kernels of :mod:`mri_recon.nn.conv_functional`.

``Conv1d``, ``Conv2d`` and ``ConvTranspose2d`` take torch.nn's constructor arguments, initialise
their parameters as torch.nn does (same random stream, so equal seeds give equal weights) and
keep its state_dict keys (``weight``, ``bias``), so checkpoints move between the two freely.
``impl="aten"`` runs torch.nn.functional's kernel on the same parameters, as a reference and a
fallback; the default ``impl="scratch"`` runs ours.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mri_recon.nn import conv_functional as scratch
from mri_recon.nn.conv_shapes import IntOrPair, conv_transpose_output_size
from mri_recon.nn.impl import check_impl


def _tuple(value: IntOrPair, dims: int, name: str) -> tuple[int, ...]:
    items = (value,) * dims if isinstance(value, int) else tuple(value)
    if len(items) != dims or not all(isinstance(v, int) for v in items):
        raise ValueError(f"{name} must be an int or a {dims}-tuple of ints, got {value!r}")
    return items


class _ConvNd(nn.Module):
    """Shared parameters, checks, initialisation and repr of the convolution modules."""

    def __init__(
        self,
        dims: int,
        transposed: bool,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrPair,
        stride: IntOrPair,
        padding: IntOrPair | str,
        dilation: IntOrPair,
        output_padding: IntOrPair,
        groups: int,
        bias: bool,
        padding_mode: str,
        device: torch.device | str | None,
        dtype: torch.dtype | None,
        impl: str,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if groups < 1:
            raise ValueError(f"{name}: groups must be positive, got {groups}")
        for label, channels in (("in_channels", in_channels), ("out_channels", out_channels)):
            if channels % groups != 0:
                raise ValueError(f"{name}: {label}={channels} is not divisible by groups={groups}")
        if padding_mode != "zeros":
            raise ValueError(
                f"{name}: only padding_mode='zeros' is supported, got {padding_mode!r}"
            )
        check_impl(impl, owner=name)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _tuple(kernel_size, dims, "kernel_size")
        self.stride = _tuple(stride, dims, "stride")
        self.dilation = _tuple(dilation, dims, "dilation")
        self.output_padding = _tuple(output_padding, dims, "output_padding")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(
                    f"{name}: padding must be 'same', 'valid' or ints, got {padding!r}"
                )
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' needs stride 1, got {stride!r}")
            self.padding: tuple[int, ...] | str = padding
        else:
            self.padding = _tuple(padding, dims, "padding")
        self.transposed, self.padding_mode, self.impl = transposed, padding_mode, impl
        factory = {"device": device, "dtype": dtype}
        shape = (
            (in_channels, out_channels // groups)
            if transposed
            else (out_channels, in_channels // groups)
        )
        self.weight = nn.Parameter(torch.empty(*shape, *self.kernel_size, **factory))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-uniform weight (a = sqrt(5)) and uniform bias in +-1/sqrt(fan_in), as torch.nn.

        fan_in is ``weight.shape[1] * prod(kernel_size)``, for transposed convolutions too.
        """
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            nn.init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        dims = len(self.kernel_size)
        parts = [
            f"{self.in_channels}, {self.out_channels}",
            f"kernel_size={self.kernel_size}",
            f"stride={self.stride}",
        ]
        if self.padding != (0,) * dims:
            parts.append(f"padding={self.padding}")
        if self.dilation != (1,) * dims:
            parts.append(f"dilation={self.dilation}")
        if self.output_padding != (0,) * dims:
            parts.append(f"output_padding={self.output_padding}")
        if self.groups != 1:
            parts.append(f"groups={self.groups}")
        if self.bias is None:
            parts.append("bias=False")
        if self.impl != "scratch":
            parts.append(f"impl={self.impl!r}")
        return ", ".join(parts)


class Conv1d(_ConvNd):
    """1D convolution layer, as ``torch.nn.Conv1d``.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: kernel length.
        stride: step between windows.
        padding: zeros on each side, ``'valid'`` or ``'same'`` (stride 1 only).
        dilation: spacing between kernel taps.
        groups: channel groups; both channel counts must divide by it.
        bias: whether to add a learnable bias.
        padding_mode: ``'zeros'`` (the only mode supported).
        device: where to create the parameters.
        dtype: dtype of the parameters.
        impl: ``'scratch'`` (ours) or ``'aten'`` (torch.nn.functional.conv1d).

    Shape:
        - Input: (N, C_in, L) or (C_in, L).
        - Output: (N, C_out, L_out) or (C_out, L_out), with L_out =
          floor((L + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrPair,
        stride: IntOrPair = 1,
        padding: IntOrPair | str = 0,
        dilation: IntOrPair = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        impl: str = "scratch",
    ) -> None:
        super().__init__(
            1, False, in_channels, out_channels, kernel_size, stride, padding, dilation, 0,
            groups, bias, padding_mode, device, dtype, impl,
        )  # fmt: skip

    def forward(self, input: Tensor) -> Tensor:
        conv = scratch.conv1d if self.impl == "scratch" else F.conv1d
        args = (self.stride, self.padding, self.dilation, self.groups)
        return conv(input, self.weight, self.bias, *args)


class Conv2d(_ConvNd):
    """2D convolution layer, as ``torch.nn.Conv2d``.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: int or (kH, kW).
        stride: int or (sH, sW).
        padding: int, (pH, pW), ``'valid'`` or ``'same'`` (stride 1 only).
        dilation: int or (dH, dW).
        groups: channel groups; both channel counts must divide by it.
        bias: whether to add a learnable bias.
        padding_mode: ``'zeros'`` (the only mode supported).
        device: where to create the parameters.
        dtype: dtype of the parameters.
        impl: ``'scratch'`` (ours) or ``'aten'`` (torch.nn.functional.conv2d).

    Shape:
        - Input: (N, C_in, H, W) or (C_in, H, W), any memory format.
        - Output: (N, C_out, H_out, W_out) or (C_out, H_out, W_out), with per dimension
          floor((H + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1.

    Examples:
        >>> import torch
        >>> from mri_recon.nn import Conv2d
        >>> _ = torch.manual_seed(0)
        >>> conv = Conv2d(1, 8, kernel_size=3, padding=1)
        >>> x = torch.randn(2, 1, 32, 32)
        >>> conv(x).shape
        torch.Size([2, 8, 32, 32])
        >>> aten = Conv2d(1, 8, kernel_size=3, padding=1, impl="aten")  # torch's kernel
        >>> aten.load_state_dict(conv.state_dict())
        <All keys matched successfully>
        >>> torch.allclose(conv(x), aten(x), atol=1e-5)
        True
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrPair,
        stride: IntOrPair = 1,
        padding: IntOrPair | str = 0,
        dilation: IntOrPair = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        impl: str = "scratch",
    ) -> None:
        super().__init__(
            2, False, in_channels, out_channels, kernel_size, stride, padding, dilation, 0,
            groups, bias, padding_mode, device, dtype, impl,
        )  # fmt: skip

    def forward(self, input: Tensor) -> Tensor:
        conv = scratch.conv2d if self.impl == "scratch" else F.conv2d
        args = (self.stride, self.padding, self.dilation, self.groups)
        return conv(input, self.weight, self.bias, *args)


class ConvTranspose2d(_ConvNd):
    """2D transposed convolution layer, as ``torch.nn.ConvTranspose2d``.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: int or (kH, kW).
        stride: int or (sH, sW).
        padding: int or (pH, pW): rows/columns cropped from each side of the output.
        output_padding: int or (oH, oW), smaller than the stride or the dilation: rows/columns
            added at the bottom/right of the output.
        groups: channel groups; both channel counts must divide by it.
        bias: whether to add a learnable bias.
        dilation: int or (dH, dW).
        padding_mode: ``'zeros'`` (the only mode supported).
        device: where to create the parameters.
        dtype: dtype of the parameters.
        impl: ``'scratch'`` (ours) or ``'aten'`` (torch.nn.functional.conv_transpose2d).

    Shape:
        - Input: (N, C_in, H, W) or (C_in, H, W), any memory format.
        - Output: (N, C_out, H_out, W_out) or (C_out, H_out, W_out), with per dimension
          (H - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrPair,
        stride: IntOrPair = 1,
        padding: IntOrPair = 0,
        output_padding: IntOrPair = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: IntOrPair = 1,
        padding_mode: str = "zeros",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        impl: str = "scratch",
    ) -> None:
        if isinstance(padding, str):
            raise ValueError(f"ConvTranspose2d: padding must be an int or a pair, got {padding!r}")
        super().__init__(
            2, True, in_channels, out_channels, kernel_size, stride, padding, dilation,
            output_padding, groups, bias, padding_mode, device, dtype, impl,
        )  # fmt: skip

    def forward(self, input: Tensor, output_size: list[int] | None = None) -> Tensor:
        """Apply the layer; ``output_size`` (trailing (H, W)) picks the output padding, as torch."""
        output_padding = self.output_padding
        if output_size is not None:
            output_padding = tuple(
                size - conv_transpose_output_size(n, k, s, p, d)
                for size, n, k, s, p, d in zip(
                    output_size[-2:], input.shape[-2:], self.kernel_size, self.stride,
                    self.padding, self.dilation, strict=True,
                )
            )  # fmt: skip
        conv = scratch.conv_transpose2d if self.impl == "scratch" else F.conv_transpose2d
        args = (self.stride, self.padding, output_padding, self.groups, self.dilation)
        return conv(input, self.weight, self.bias, *args)
