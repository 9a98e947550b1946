"""Coil sensitivity maps estimated from the auto-calibration lines, as in the End-to-end VarNet.

The k-space outside the fully sampled centre is zeroed (``mask_center``), each coil's image is
computed and refined by a :class:`NormUnet`, and the maps are divided by their root sum of squares
over coils, so that combining with them preserves magnitude. Module names follow
``fastmri.models.varnet.SensitivityModel`` (``norm_unet``); the FFTs and complex helpers are
fastmri's. The centre masking equals fastmri's ``batched_mask_center`` (tested) as one
comparison of column indices with the bounds, never reading them back to Python, so that
``torch.compile`` traces the network whole.
"""

from __future__ import annotations

import fastmri
import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from mri_recon.models.norm_unet import NormUnet


def count_low_frequencies(mask: Tensor) -> Tensor:
    """The width of each mask's fully sampled centre, fastMRI's way: twice the shorter run of
    sampled lines on either side of the middle column, at least 1.

    Args:
        mask: (N, 1, 1, W, 1) sampling mask (nonzero = sampled).

    Returns:
        (N,) int64 line counts.
    """
    columns = mask[:, 0, 0, :, 0] != 0
    middle = columns.shape[1] // 2
    # argmin finds the first unsampled line (0 when the line next to the middle is unsampled).
    # In int32, not fastMRI's int8: inductor's CPU argmin over 16 or more int8 values returns
    # 0 or garbage in torch 2.14 (pytorch/pytorch#191499).
    left = torch.argmin(columns[:, :middle].flip(1).to(torch.int32), dim=1)
    right = torch.argmin(columns[:, middle:].to(torch.int32), dim=1)
    return torch.clamp(2 * torch.minimum(left, right), min=1)


def center_bounds(mask: Tensor, num_low_frequencies: int | Tensor | None) -> tuple[Tensor, Tensor]:
    """The first and one-past-last column of each sample's auto-calibration lines.

    Args:
        mask: (N, 1, 1, W, 1) sampling mask.
        num_low_frequencies: the number of centre lines, per sample ((N,) tensor) or for all
            (int); ``None`` or 0 counts them from the mask (:func:`count_low_frequencies`).

    Returns:
        ``(start, end)``, each (N,) int64.
    """
    counted = count_low_frequencies(mask)
    if num_low_frequencies is None:
        count = counted
    else:
        given = torch.as_tensor(num_low_frequencies, device=mask.device).to(torch.long)
        count = torch.where(given > 0, given.expand_as(counted), counted)
    start = (mask.shape[-2] - count + 1) // 2
    return start, start + count


def keep_center(kspace: Tensor, start: Tensor, end: Tensor) -> Tensor:
    """``kspace`` with the columns outside ``[start, end)`` of each sample zeroed.

    Args:
        kspace: (N, coils, H, W, 2).
        start, end: (N,) column bounds (``center_bounds``).
    """
    columns = torch.arange(kspace.shape[-2], device=kspace.device)
    keep = (columns >= start[:, None]) & (columns < end[:, None])  # (N, W)
    return kspace * keep[:, None, None, :, None]


class SensitivityModel(nn.Module):
    """Coil sensitivity maps from the centre of undersampled multicoil k-space.

    Args:
        chans: channels of the NormUnet's first block.
        num_pools: pooling levels of the NormUnet.
        in_chans, out_chans: real channels of the NormUnet (2: one complex coil image).
        drop_prob: the NormUnet's dropout probability.
        mask_center: keep only the auto-calibration lines (fastMRI's default); ``False`` uses
            all sampled k-space.
        conv_impl, norm_impl: ``"scratch"`` or ``"aten"`` kernels, as :class:`NormUnet`.

    Shape:
        - masked_kspace: (N, coils, H, W, 2).
        - mask: (N, 1, 1, W, 1).
        - Output: (N, coils, H, W, 2), unit root sum of squares over coils at every pixel.
    """

    def __init__(
        self,
        chans: int,
        num_pools: int,
        in_chans: int = 2,
        out_chans: int = 2,
        drop_prob: float = 0.0,
        mask_center: bool = True,
        conv_impl: str = "scratch",
        norm_impl: str = "scratch",
    ) -> None:
        super().__init__()
        self.mask_center = mask_center
        self.norm_unet = NormUnet(
            chans, num_pools, in_chans=in_chans, out_chans=out_chans, drop_prob=drop_prob,
            conv_impl=conv_impl, norm_impl=norm_impl,
        )  # fmt: skip

    def forward(
        self,
        masked_kspace: Tensor,
        mask: Tensor,
        num_low_frequencies: int | Tensor | None = None,
        checkpointed: bool = False,
    ) -> Tensor:
        """``checkpointed``: run the NormUnet one coil image at a time under gradient
        checkpointing, so that the backward pass holds one image's activations instead of every
        coil's. The NormUnet normalizes and convolves each image on its own, so the maps are the
        same (to float rounding)."""
        if self.mask_center:
            start, end = center_bounds(mask, num_low_frequencies)
            masked_kspace = keep_center(masked_kspace, start, end)
        n, coils, h, w, _ = masked_kspace.shape
        images = fastmri.ifft2c(masked_kspace).view(n * coils, 1, h, w, 2)  # coils as a batch
        if checkpointed:
            run = self.norm_unet
            maps = torch.cat([checkpoint(run, x, use_reentrant=False) for x in images.split(1)])
        else:
            maps = self.norm_unet(images)
        maps = maps.view(n, coils, h, w, 2)
        return maps / fastmri.rss_complex(maps, dim=1)[:, None, :, :, None]
