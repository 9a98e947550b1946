"""Normalization layers with torch.nn's names, arguments, parameters, buffers and state dicts.

``impl="scratch"`` (default) runs `mri_recon.nn.norm_functional`; ``impl="aten"`` runs
`torch.nn.functional`'s kernel on the same parameters and buffers.
"""

import numbers

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn import init

from mri_recon.nn import norm_functional as NF
from mri_recon.nn.impl import check_impl


def _check_args(impl: str, eps: float, **sizes: object) -> None:
    check_impl(impl)
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps!r}")
    for name, value in sizes.items():
        if not isinstance(value, numbers.Integral) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


class _AffineBase(nn.Module):
    """Shared `eps`, `impl` and the optional `weight` (init 1) and `bias` (init 0) of all layers."""

    def __init__(
        self, shape: tuple[int, ...], weight: bool, bias: bool, eps: float, impl: str, **factory
    ) -> None:
        super().__init__()
        self.eps = eps
        self.impl = impl
        for name, present in (("weight", weight), ("bias", weight and bias)):
            param = nn.Parameter(torch.empty(shape, **factory)) if present else None
            self.register_parameter(name, param)

    def reset_parameters(self) -> None:
        """Set the weight to 1 and the bias to 0."""
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)


class _NormBase(_AffineBase):
    """Shared parameters and running buffers of BatchNorm and InstanceNorm."""

    _version = 2  # state-dict version of torch's _NormBase (has num_batches_tracked)

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        bias: bool = True,
        impl: str = "scratch",
    ) -> None:
        _check_args(impl, eps, num_features=num_features)
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1] or None, got {momentum!r}")
        factory = {"device": device, "dtype": dtype}
        super().__init__((num_features,), affine, bias, eps, impl, **factory)
        self.num_features = num_features
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        stats = {
            "running_mean": torch.zeros(num_features, **factory),
            "running_var": torch.ones(num_features, **factory),
            "num_batches_tracked": torch.tensor(0, dtype=torch.long, device=device),
        }
        for name, value in stats.items():
            self.register_buffer(name, value if track_running_stats else None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Set the running mean to 0, the running variance to 1 and the batch count to 0."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Reset the running statistics, the weight to 1 and the bias to 0."""
        self.reset_running_stats()
        super().reset_parameters()

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}, impl={self.impl!r}"
        )


class _BatchNorm(_NormBase):
    input_dims: tuple[int, ...]

    def forward(self, input: Tensor) -> Tensor:
        if input.dim() not in self.input_dims:
            raise ValueError(
                f"{type(self).__name__}: expected {self.input_dims} dims, got {input.dim()}"
            )
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        use_batch_stats = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        norm = F.batch_norm if self.impl == "aten" else NF.batch_norm
        mean, var = (self.running_mean, self.running_var) if track else (None, None)
        return norm(input, mean, var, self.weight, self.bias, use_batch_stats, factor, self.eps)


class BatchNorm1d(_BatchNorm):
    """Batch normalization over a 2D or 3D input, statistics per channel over batch and length.

    Args: as `torch.nn.BatchNorm1d` (momentum=None: cumulative average), plus ``impl``.

    Shape:
        - Input: (N, C) or (N, C, L)
        - Output: same shape as the input
    """

    input_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization over a 4D input, statistics per channel over batch, height and width.

    Args: as `torch.nn.BatchNorm2d` (momentum=None: cumulative average), plus ``impl``.

    Shape:
        - Input: (N, C, H, W)
        - Output: same shape as the input
    """

    input_dims = (4,)


class InstanceNorm2d(_NormBase):
    """Instance normalization: statistics per sample and channel over height and width.

    Args: as `torch.nn.InstanceNorm2d`, plus ``impl``: "scratch" or "aten". Training with
    track_running_stats updates the running buffers with the batch mean of the per-instance
    statistics (not when momentum is None); eval mode then normalizes with them.

    Shape:
        - Input: (N, C, H, W) or (C, H, W)
        - Output: same shape as the input
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        bias: bool = True,
        impl: str = "scratch",
    ) -> None:
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, device, dtype,
            bias=bias, impl=impl,
        )  # fmt: skip

    def forward(self, input: Tensor) -> Tensor:
        if input.dim() not in (3, 4) or (self.affine and input.shape[-3] != self.num_features):
            expected = f"(N, {self.num_features}, H, W) or ({self.num_features}, H, W)"
            raise ValueError(f"InstanceNorm2d: expected {expected}, got {tuple(input.shape)}")
        batched = input if input.dim() == 4 else input.unsqueeze(0)
        norm = F.instance_norm if self.impl == "aten" else NF.instance_norm
        use_input_stats = self.training or not self.track_running_stats
        momentum = 0.0 if self.momentum is None else self.momentum
        stats = (self.running_mean, self.running_var, self.weight, self.bias)
        output = norm(batched, *stats, use_input_stats, momentum, self.eps)
        return output if input.dim() == 4 else output.squeeze(0)


class LayerNorm(_AffineBase):
    """Layer normalization over the trailing `normalized_shape` axes of each sample.

    Args:
        normalized_shape: size of the trailing axes to normalize over (int or sequence).
        eps: added to the variance for numerical stability.
        elementwise_affine: learn a per-element weight (init 1) and, if `bias`, a bias (init 0).
        bias: learn the additive bias (only with elementwise_affine).
        device, dtype: where and in which dtype to create the parameters.
        impl: "scratch" (the from-scratch Function) or "aten" (torch.nn.functional.layer_norm).

    Shape:
        - Input: (*, *normalized_shape)
        - Output: same shape as the input
    """

    def __init__(
        self,
        normalized_shape: int | list[int] | tuple[int, ...] | torch.Size,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        impl: str = "scratch",
    ) -> None:
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        shape = tuple(normalized_shape)
        if not shape:
            raise ValueError("normalized_shape must name at least one axis, got ()")
        _check_args(impl, eps, **{f"normalized_shape[{i}]": n for i, n in enumerate(shape)})
        factory = {"device": device, "dtype": dtype}
        super().__init__(shape, elementwise_affine, bias, eps, impl, **factory)
        self.normalized_shape = shape
        self.elementwise_affine = elementwise_affine
        self.reset_parameters()

    def forward(self, input: Tensor) -> Tensor:
        norm = F.layer_norm if self.impl == "aten" else NF.layer_norm
        return norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        affine = f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        return f"{self.normalized_shape}, eps={self.eps}, {affine}, impl={self.impl!r}"


class GroupNorm(_AffineBase):
    """Group normalization: statistics per sample over each group of channels and all positions.

    GroupNorm(C, C) is InstanceNorm2d(C, affine=True); GroupNorm(1, C) is LayerNorm over (C, H, W)
    with a per-channel instead of a per-element affine.

    Args:
        num_groups: number of channel groups; must divide num_channels.
        num_channels: number of channels C of the input.
        eps: added to the variance for numerical stability.
        affine: learn a per-channel weight (init 1) and, if `bias`, a bias (init 0).
        device, dtype: where and in which dtype to create the parameters.
        bias: learn the additive bias (only with affine).
        impl: "scratch" (the from-scratch Function) or "aten" (torch.nn.functional.group_norm).

    Shape:
        - Input: (N, C, *)
        - Output: same shape as the input
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        bias: bool = True,
        impl: str = "scratch",
    ) -> None:
        _check_args(impl, eps, num_groups=num_groups, num_channels=num_channels)
        if num_channels % num_groups != 0:
            raise ValueError(
                f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
            )
        factory = {"device": device, "dtype": dtype}
        super().__init__((num_channels,), affine, bias, eps, impl, **factory)
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.affine = affine
        self.reset_parameters()

    def forward(self, input: Tensor) -> Tensor:
        if input.dim() < 2 or input.shape[1] != self.num_channels:
            raise ValueError(
                f"GroupNorm: expected input (N, {self.num_channels}, *), got {tuple(input.shape)}"
            )
        norm = F.group_norm if self.impl == "aten" else NF.group_norm
        return norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias is not None}, impl={self.impl!r}"
        )
