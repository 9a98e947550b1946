"""The normalized U-Net of the End-to-end VarNet: complex images in, complex images out.

A complex image with C channels, stored as (N, C, H, W, 2), becomes a real image with 2 C channels
(real parts first, then imaginary parts), is normalized (one mean and standard deviation over the
real parts, one over the imaginary parts), zero-padded to a multiple of 16 on each side, run
through :class:`mri_recon.models.Unet`, and undone step by step. Module names follow
``fastmri.models.varnet.NormUnet`` (``unet``), so fastMRI's VarNet weights load unchanged.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from mri_recon.models.unet import Unet

PAD_MULTIPLE = 16  # fastMRI pads to multiples of 16 whatever the number of pooling levels


def complex_to_channels(x: Tensor) -> Tensor:
    """(N, C, H, W, 2) complex -> (N, 2 C, H, W) real: the C real parts, then the C imaginary."""
    n, c, h, w, _ = x.shape
    return x.permute(0, 4, 1, 2, 3).reshape(n, 2 * c, h, w)


def channels_to_complex(x: Tensor) -> Tensor:
    """The inverse of :func:`complex_to_channels`: (N, 2 C, H, W) -> (N, C, H, W, 2)."""
    n, c2, h, w = x.shape
    return x.view(n, 2, c2 // 2, h, w).permute(0, 2, 3, 4, 1).contiguous()


def pad_widths(size: int) -> tuple[int, int]:
    """Zeros before and after an axis of ``size`` to reach the next multiple of ``PAD_MULTIPLE``
    (the larger half after)."""
    total = math.ceil(size / PAD_MULTIPLE) * PAD_MULTIPLE - size
    return total // 2, total - total // 2


class NormUnet(nn.Module):
    """A U-Net on normalized, padded complex images (``fastmri.models.varnet.NormUnet``).

    Args:
        chans: channels of the U-Net's first block.
        num_pools: pooling levels of the U-Net.
        in_chans: real input channels, twice the complex channels (2 for one complex image).
        out_chans: real output channels (even).
        drop_prob: the U-Net's dropout probability.
        conv_impl: ``"scratch"`` or ``"aten"`` kernels for the U-Net's convolutions.
        norm_impl: ``"scratch"`` or ``"aten"`` kernels for its instance norms.

    Shape:
        - Input: (N, in_chans / 2, H, W, 2), float32 (or float64), any H, W (padded inside to
          multiples of 16).
        - Output: (N, out_chans / 2, H, W, 2), the input's dtype, also under bf16 autocast.
    """

    def __init__(
        self,
        chans: int,
        num_pools: int,
        in_chans: int = 2,
        out_chans: int = 2,
        drop_prob: float = 0.0,
        conv_impl: str = "scratch",
        norm_impl: str = "scratch",
    ) -> None:
        super().__init__()
        for name, value in (("in_chans", in_chans), ("out_chans", out_chans)):
            if value % 2:
                raise ValueError(f"NormUnet: {name} must be even (real and imaginary parts)")
        self.unet = Unet(
            in_chans=in_chans, out_chans=out_chans, chans=chans, num_pool_layers=num_pools,
            drop_prob=drop_prob, conv_impl=conv_impl, norm_impl=norm_impl,
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 5 or x.shape[-1] != 2:
            raise ValueError(f"NormUnet: input must be (N, C, H, W, 2), got {tuple(x.shape)}")
        x = complex_to_channels(x)
        n, c, h, w = x.shape
        grouped = x.reshape(n, 2, -1)  # the real parts, then the imaginary parts
        mean = grouped.mean(dim=2).view(n, 2, 1, 1)
        std = grouped.std(dim=2).view(n, 2, 1, 1)
        x = ((x.view(n, 2, c // 2, h, w) - mean[..., None]) / std[..., None]).view(n, c, h, w)
        top, bottom = pad_widths(h)
        left, right = pad_widths(w)
        x = F.pad(x, [left, right, top, bottom])
        # Under bf16 autocast the U-Net answers in bf16; complex data keeps its dtype from here on.
        x = self.unet(x).to(x.dtype)[..., top : top + h, left : left + w]
        out_c = x.shape[1]
        x = x.view(n, 2, out_c // 2, h, w) * std[..., None] + mean[..., None]
        return channels_to_complex(x.view(n, out_c, h, w))
