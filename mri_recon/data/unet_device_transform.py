"""The U-Net transform split in two: a light per-slice part for the loader, the FFTs on the batch.

On a GPU the loader's workers can become the bottleneck: every slice's FFTs run on a few CPU
cores. With ``FastMriDataModule(transform_on_device=True)`` the workers only read the slice, draw
its mask and crop its target (``KspaceSliceTransform``: the same mask as ``UnetDataTransform``);
the k-space goes to the device as it is, and ``KspaceBatchTransform`` (run by the data module's
``on_after_batch_transfer``) masks it, applies the centred inverse FFT, crops, combines the coils
and normalises the whole batch there. The result is the ``UnetSample`` batch the CPU transform
gives (tested equal on the CPU).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from fastmri.data.transforms import center_crop, to_tensor
from torch import Tensor

from mri_recon.data.kspace_image import image_from_kspace
from mri_recon.data.unet_transform import CLAMP, NORMALIZE_EPS, UnetDataTransform, UnetSample


class KspaceSample(NamedTuple):
    """One slice before its FFTs (batched by the loader along a new first dimension).

    Attributes:
        kspace: complex64 k-space as stored, (coils, rows, cols) or (rows, cols).
        kept: the mask, True on the phase-encode columns kept, (cols,).
        target: the un-normalised target cropped to the image size, or ``tensor([0.])``.
        size: (height, width) of the image.
        fname, slice_num, max_value: as in ``UnetSample``.
    """

    kspace: Tensor
    kept: Tensor
    target: Tensor
    size: Tensor
    fname: str
    slice_num: int
    max_value: float


class KspaceSliceTransform(UnetDataTransform):
    """The per-slice part: the mask drawn exactly as ``UnetDataTransform`` draws it, the
    target cropped; no FFT. Arguments as ``UnetDataTransform``'s (``fast`` is unused)."""

    def __call__(self, *raw: Any) -> KspaceSample:
        """The ``KspaceSample`` of ``SliceDataset``'s raw slice ``(kspace, mask, target, attrs,
        fname, slice_num)``."""
        kspace, mask, target, attrs, fname, slice_num = raw
        size = self.crop_size(kspace.shape[-1], target, attrs)
        columns = self.kept_columns(kspace, mask, attrs, fname)
        kept = torch.ones(kspace.shape[-1], dtype=torch.bool)
        if columns is not None:
            kept = torch.zeros_like(kept).index_fill_(0, columns, True)
        target_torch = torch.Tensor([0]) if target is None else center_crop(to_tensor(target), size)
        return KspaceSample(
            kspace=torch.from_numpy(np.asarray(kspace)).to(torch.complex64),
            kept=kept,
            target=target_torch,
            size=torch.tensor(size),
            fname=fname,
            slice_num=slice_num,
            max_value=attrs.get("max", 0.0),
        )


class KspaceBatchTransform:
    """The batch part, on whatever device the batch is: mask, centred inverse FFT, crop, coil
    combination, per-slice normalisation and clamping.

    Args:
        which_challenge: ``singlecoil`` or ``multicoil``.
        clamp: as ``UnetDataTransform``'s.

    Shape:
        - kspace: (batch, coils, rows, cols) multicoil or (batch, rows, cols), complex.
        - output image and target: (batch, height, width).
    """

    def __init__(self, which_challenge: str, clamp: float | None = CLAMP) -> None:
        self.coil_dim = -3 if which_challenge == "multicoil" else None
        self.clamp = clamp

    def __call__(self, batch: KspaceSample) -> UnetSample:
        kept = batch.kept.to(batch.kspace.real.dtype)
        kept = kept.view(kept.shape[0], *([1] * (batch.kspace.dim() - 2)), kept.shape[-1])
        size = tuple(int(n) for n in batch.size[0])
        image = image_from_kspace(batch.kspace * kept, size, coil_dim=self.coil_dim)
        flat = image.flatten(1)
        mean, std = flat.mean(1), flat.std(1)
        scale = (std + NORMALIZE_EPS)[:, None, None]
        image = (image - mean[:, None, None]) / scale
        target = batch.target
        if target.dim() == 3:
            target = (target - mean[:, None, None]) / scale
        if self.clamp is not None:
            image = image.clamp(-self.clamp, self.clamp)
            target = target.clamp(-self.clamp, self.clamp) if target.dim() == 3 else target
        return UnetSample(image, target, mean, std, batch.fname, batch.slice_num, batch.max_value)
