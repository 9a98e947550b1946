"""What every normalization layer shares: argument checks, parameters, buffers, kernel choice.

`_AffineBase` holds ``eps``, ``impl``, ``fused`` and the optional affine ``weight`` and ``bias``
of all layers and picks the functional form they run; `_NormBase` adds the running buffers of
BatchNorm and InstanceNorm with torch's names and state-dict version, so state dicts move
between these layers and torch.nn's.
"""

import numbers
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn import init

from mri_recon.nn import norm_functional as NF
from mri_recon.nn.impl import check_impl


def check_args(impl: str, fused: bool, eps: float, **sizes: object) -> None:
    """Raise ``ValueError`` naming the first bad constructor argument (sizes: positive ints)."""
    check_impl(impl)
    if impl == "aten" and not fused:
        raise ValueError("fused=False selects the scratch reference path; impl='aten' has none")
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps!r}")
    for name, value in sizes.items():
        if not isinstance(value, numbers.Integral) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


class _AffineBase(nn.Module):
    """Shared `eps`, `impl`, `fused` and the optional `weight` (init 1) and `bias` (init 0)."""

    def __init__(
        self,
        shape: tuple[int, ...],
        weight: bool,
        bias: bool,
        eps: float,
        impl: str,
        fused: bool,
        **factory,
    ) -> None:
        super().__init__()
        self.eps = eps
        self.impl = impl
        self.fused = fused
        for name, present in (("weight", weight), ("bias", weight and bias)):
            param = nn.Parameter(torch.empty(shape, **factory)) if present else None
            self.register_parameter(name, param)

    def reset_parameters(self) -> None:
        """Set the weight to 1 and the bias to 0."""
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def _functional(self, name: str) -> Callable[..., Tensor]:
        """The functional form ``name`` (e.g. "batch_norm") that ``impl`` and ``fused`` select."""
        if self.impl == "aten":
            return getattr(F, name)
        return partial(getattr(NF, name), fused=self.fused)

    def _impl_repr(self) -> str:
        """``impl`` for ``extra_repr``, and ``fused`` where it is not the default."""
        return f"impl={self.impl!r}" + ("" if self.fused else ", fused=False")


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
        fused: bool = True,
    ) -> None:
        check_args(impl, fused, eps, num_features=num_features)
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1] or None, got {momentum!r}")
        factory = {"device": device, "dtype": dtype}
        super().__init__((num_features,), affine, bias, eps, impl, fused, **factory)
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
            f"track_running_stats={self.track_running_stats}, {self._impl_repr()}"
        )
