"""Turning one k-space slice into a VarNet sample: the masked multicoil k-space and its mask.

``VarNetDataTransform`` returns what ``fastmri.data.transforms.VarNetDataTransform`` returns,
field for field, with fastmri's masking. It is our own class for the same reasons as
``UnetDataTransform``: the k-space is float32 whatever the file stores, the phase-encode padding is
optional, a test file's stored mask is honoured even when a mask function is given, and it also
serves singlecoil data (as one coil) and fully sampled files without a mask function (all acquired
lines sampled). Values were checked finite when the slice was read (``SliceDataset``).
"""

from typing import Any, NamedTuple

import fastmri
import numpy as np
import torch
from fastmri.data.subsample import MaskFunc
from fastmri.data.transforms import apply_mask, center_crop, to_tensor
from torch import Tensor

from mri_recon.data.fastmri_format import check_challenge
from mri_recon.data.file_check import output_size
from mri_recon.data.unet_transform import mask_padding, mask_seed


class VarNetSample(NamedTuple):
    """Masked k-space, its mask and target (fields and order of fastmri's ``VarNetSample``).

    Attributes:
        masked_kspace: (coils, rows, cols, 2) float32, zero where not sampled (coils = 1 for
            singlecoil data).
        mask: (1, 1, cols, 1) bool, the sampled phase-encode lines.
        num_low_frequencies: the mask's fully sampled centre lines; 0 when the mask came from
            the file (the network counts them).
        target: (height, width), or ``tensor(0)`` without a target.
        fname: the volume's file name.
        slice_num: the slice index within the volume.
        max_value: the volume's ``max`` attribute (0.0 when absent), for PSNR/SSIM.
        crop_size: (height, width) of the target, where the network's output is cropped to.
    """

    masked_kspace: Tensor
    mask: Tensor
    num_low_frequencies: int
    target: Tensor
    fname: str
    slice_num: int
    max_value: float
    crop_size: tuple[int, int]

    def image_size(self) -> tuple[int, int]:
        """``crop_size`` as two ints, for one sample or a batch (whose samples share it)."""
        height, width = (int(torch.as_tensor(size).flatten()[0]) for size in self.crop_size)
        return height, width

    def crop(self, images: Tensor) -> Tensor:
        """``images`` (..., rows, cols) centre-cropped to ``crop_size``."""
        return center_crop(images, self.image_size())

    def unnormalize(self, image: Tensor) -> Tensor:
        """``image`` itself: VarNet samples and outputs are in the data's scale (the counterpart
        of ``UnetSample.unnormalize``)."""
        return image

    def zero_filled(self) -> Tensor:
        """The zero-filled image: root sum of squares of the coil images of ``masked_kspace``,
        cropped, (..., height, width) float32."""
        coils = fastmri.complex_abs(fastmri.ifft2c(self.masked_kspace))
        return self.crop(fastmri.rss(coils, dim=-3))


def stored_mask(mask: np.ndarray, padding: tuple[int, int] | None) -> Tensor:
    """A test file's stored mask as (1, 1, cols, 1) float32, zero outside the acquired lines."""
    mask_torch = torch.from_numpy(np.asarray(mask).reshape(1, 1, -1, 1).astype(np.float32))
    if padding is not None:
        mask_torch[:, :, : padding[0]] = 0
        mask_torch[:, :, padding[1] :] = 0
    return mask_torch


class VarNetDataTransform:
    """Pre-processes a ``SliceDataset`` slice for VarNet training and evaluation.

    Args:
        which_challenge: ``singlecoil`` (its k-space becomes one coil) or ``multicoil``.
        mask_func: draws the undersampling mask; ``None`` uses the k-space as stored (a test
            file's with its stored mask; a fully sampled file's with every acquired line).
        use_seed: seed the mask from the file name, so every slice of a volume and every
            epoch gets the same mask (validation, test); ``False`` draws fresh masks (training).

    Shape:
        - kspace: (rows, cols) singlecoil or (coils, rows, cols) multicoil, complex.
        - target: (height, width) or ``None``.
        - output masked_kspace: (coils, rows, cols, 2); mask: (1, 1, cols, 1).
    """

    def __init__(
        self, which_challenge: str, mask_func: MaskFunc | None = None, use_seed: bool = True
    ) -> None:
        self.which_challenge = check_challenge(which_challenge)
        self.mask_func = mask_func
        self.use_seed = use_seed

    def __call__(
        self,
        kspace: np.ndarray,
        mask: np.ndarray | None,
        target: np.ndarray | None,
        attrs: dict[str, Any],
        fname: str,
        slice_num: int,
    ) -> VarNetSample:
        """Builds the sample of one slice (arguments as ``UnetDataTransform.__call__``)."""
        kspace_torch = to_tensor(kspace).to(torch.float32)
        if self.which_challenge == "singlecoil":
            kspace_torch = kspace_torch.unsqueeze(0)
        padding = mask_padding(attrs)
        num_low_frequencies = 0
        if mask is not None or self.mask_func is None:  # the k-space as stored
            full = np.ones(kspace_torch.shape[-2], dtype=np.float32)
            mask_torch = stored_mask(mask if mask is not None else full, padding)
            masked_kspace = kspace_torch
        else:
            seed = mask_seed(fname) if self.use_seed else None
            masked_kspace, mask_torch, num_low_frequencies = apply_mask(
                kspace_torch, self.mask_func, seed=seed, padding=padding
            )
        target_shape = target.shape if target is not None else None
        crop_size = output_size(kspace_torch.shape[-2], target_shape, attrs.get("recon_size", ()))
        return VarNetSample(
            masked_kspace=masked_kspace,
            mask=mask_torch.to(torch.bool),
            num_low_frequencies=int(num_low_frequencies),
            target=to_tensor(target) if target is not None else torch.tensor(0),
            fname=fname,
            slice_num=slice_num,
            max_value=attrs.get("max", 0.0),
            crop_size=(int(crop_size[0]), int(crop_size[1])),
        )
