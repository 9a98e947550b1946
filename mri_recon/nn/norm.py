"""Normalization layers with torch.nn's names, arguments, parameters, buffers and state dicts.

``impl="scratch"`` (default) runs `mri_recon.nn.norm_functional`; ``impl="aten"`` runs
`torch.nn.functional`'s kernel on the same parameters and buffers. With ``impl="scratch"``,
``fused=False`` swaps the fused autograd Function for its one-formula-per-line reference.
The shared parameters and buffers are in `mri_recon.nn.norm_base`.
"""

import numbers

import torch
from torch import Tensor

from mri_recon.nn.norm_base import _AffineBase, _NormBase, check_args


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
        norm = self._functional("batch_norm")
        mean, var = (self.running_mean, self.running_var) if track else (None, None)
        return norm(input, mean, var, self.weight, self.bias, use_batch_stats, factor, self.eps)


class BatchNorm1d(_BatchNorm):
    """Batch normalization over a 2D or 3D input, statistics per channel over batch and length.

    Args: as `torch.nn.BatchNorm1d` (momentum=None: cumulative average), plus ``impl`` and
    ``fused``.

    Shape:
        - Input: (N, C) or (N, C, L)
        - Output: same shape as the input
    """

    input_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization over a 4D input, statistics per channel over batch, height and width.

    Args: as `torch.nn.BatchNorm2d` (momentum=None: cumulative average), plus ``impl`` and
    ``fused``.

    Shape:
        - Input: (N, C, H, W)
        - Output: same shape as the input
    """

    input_dims = (4,)


class InstanceNorm2d(_NormBase):
    """Instance normalization: statistics per sample and channel over height and width.

    Args: as `torch.nn.InstanceNorm2d`, plus ``impl`` and ``fused``. Training with
    track_running_stats updates the running buffers with the batch mean of the per-instance
    statistics (not when momentum is None); eval mode then normalizes with them.

    Shape:
        - Input: (N, C, H, W) or (C, H, W)
        - Output: same shape as the input

    Examples:
        >>> import torch
        >>> from mri_recon.nn import InstanceNorm2d
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(2, 4, 8, 8) * 3 + 5
        >>> y = InstanceNorm2d(4)(x)
        >>> y.shape
        torch.Size([2, 4, 8, 8])
        >>> torch.allclose(y.mean((2, 3)), torch.zeros(2, 4), atol=1e-5)
        True
        >>> reference = InstanceNorm2d(4, fused=False)  # the formulas written out one per line
        >>> torch.allclose(reference(x), y, atol=1e-5)
        True
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
        fused: bool = True,
    ) -> None:
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, device, dtype,
            bias=bias, impl=impl, fused=fused,
        )  # fmt: skip

    def forward(self, input: Tensor) -> Tensor:
        if input.dim() not in (3, 4) or (self.affine and input.shape[-3] != self.num_features):
            expected = f"(N, {self.num_features}, H, W) or ({self.num_features}, H, W)"
            raise ValueError(f"InstanceNorm2d: expected {expected}, got {tuple(input.shape)}")
        batched = input if input.dim() == 4 else input.unsqueeze(0)
        norm = self._functional("instance_norm")
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
        fused: with impl="scratch", the fused Function (True) or its reference (False).

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
        fused: bool = True,
    ) -> None:
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        shape = tuple(normalized_shape)
        if not shape:
            raise ValueError("normalized_shape must name at least one axis, got ()")
        check_args(impl, fused, eps, **{f"normalized_shape[{i}]": n for i, n in enumerate(shape)})
        factory = {"device": device, "dtype": dtype}
        super().__init__(shape, elementwise_affine, bias, eps, impl, fused, **factory)
        self.normalized_shape = shape
        self.elementwise_affine = elementwise_affine
        self.reset_parameters()

    def forward(self, input: Tensor) -> Tensor:
        norm = self._functional("layer_norm")
        return norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        affine = f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        return f"{self.normalized_shape}, eps={self.eps}, {affine}, {self._impl_repr()}"


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
        fused: with impl="scratch", the fused Function (True) or its reference (False).

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
        fused: bool = True,
    ) -> None:
        check_args(impl, fused, eps, num_groups=num_groups, num_channels=num_channels)
        if num_channels % num_groups != 0:
            raise ValueError(
                f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
            )
        factory = {"device": device, "dtype": dtype}
        super().__init__((num_channels,), affine, bias, eps, impl, fused, **factory)
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.affine = affine
        self.reset_parameters()

    def forward(self, input: Tensor) -> Tensor:
        if input.dim() < 2 or input.shape[1] != self.num_channels:
            raise ValueError(
                f"GroupNorm: expected input (N, {self.num_channels}, *), got {tuple(input.shape)}"
            )
        norm = self._functional("group_norm")
        return norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias is not None}, {self._impl_repr()}"
        )
