"""Turning one k-space slice into a U-Net sample: mask, inverse FFT, crop, magnitude, normalise.

``UnetDataTransform`` returns what ``fastmri.data.transforms.UnetDataTransform`` returns,
element for element, and is built from fastmri's FFT and complex helpers. It is our own class so
that the FFT always runs in float32, the phase-encode padding is respected when masking, and a test
file's stored mask is honoured (its k-space is already undersampled, so no further mask is drawn).
By default the image comes from ``mri_recon.data.kspace_image`` (the same mask, less work, equal
to float32 rounding); ``fast=False`` runs fastmri's own steps, equal bit for bit.
"""

from typing import Any, NamedTuple

import fastmri
import numpy as np
import torch
from fastmri.data.subsample import MaskFunc
from fastmri.data.transforms import (
    apply_mask,
    center_crop,
    complex_center_crop,
    normalize,
    normalize_instance,
    to_tensor,
)
from torch import Tensor

from mri_recon.data.fastmri_format import check_challenge
from mri_recon.data.file_check import output_size
from mri_recon.data.kspace_image import image_from_kspace, sampled_columns

CLAMP = 6.0
NORMALIZE_EPS = 1e-11


class UnetSample(NamedTuple):
    """A zero-filled input image and its target, both normalised by the input's statistics.

    Attributes:
        image: normalised zero-filled magnitude image, (height, width).
        target: target normalised like ``image``, (height, width); ``tensor([0.])`` without target.
        mean: mean of the un-normalised input image (scalar).
        std: standard deviation of the un-normalised input image (scalar).
        fname: the volume's file name.
        slice_num: the slice index within the volume.
        max_value: the volume's ``max`` attribute (0.0 when absent), for PSNR/SSIM.
    """

    image: Tensor
    target: Tensor
    mean: Tensor
    std: Tensor
    fname: str
    slice_num: int
    max_value: float

    def unnormalize(self, image: Tensor) -> Tensor:
        """``image * std + mean``: an image normalised like this sample (per slice for a batch)
        back in the data's scale, the inverse of the transform's normalisation."""
        if self.mean.dim() == 0:
            return image * self.std + self.mean
        return image * self.std[:, None, None] + self.mean[:, None, None]

    def zero_filled(self) -> Tensor:
        """The zero-filled image in the data's scale, ``unnormalize(image)`` (exact when the
        transform did not clamp)."""
        return self.unnormalize(self.image)


def mask_padding(attrs: dict[str, Any]) -> tuple[int, int] | None:
    """The phase-encode columns outside ``[padding_left, padding_right)`` that a file's header
    marks as padding (masks leave them unsampled); ``None`` when the header gives none."""
    if "padding_left" in attrs and "padding_right" in attrs:
        return (attrs["padding_left"], attrs["padding_right"])
    return None


def mask_seed(fname: str) -> tuple[int, ...]:
    """The per-volume mask seed fastmri uses: the file name's character codes."""
    return tuple(map(ord, fname))


class UnetDataTransform:
    """Pre-processes a ``SliceDataset`` slice for U-Net training and evaluation.

    Args:
        which_challenge: ``singlecoil`` or ``multicoil`` (multicoil images are RSS-combined).
        mask_func: draws the undersampling mask; ``None`` uses the k-space as stored.
        use_seed: seed the mask from the file name, so every slice of a volume and every
            epoch gets the same mask (validation, test); ``False`` draws fresh masks (training).
        clamp: clip normalised images and targets to [-clamp, clamp] (fastMRI's 6); ``None``
            keeps them whole, so ``image * std + mean`` is exactly the zero-filled image.
        fast: compute the image with ``image_from_kspace`` (``False``: fastmri's ifft2c, crop,
            magnitude and RSS on the masked k-space).

    Shape:
        - kspace: (rows, cols) singlecoil or (coils, rows, cols) multicoil, complex.
        - target: (height, width) or ``None``.
        - output image and target: (height, width), the target's size, or the header's
          ``recon_size`` for files without a target.
    """

    def __init__(
        self,
        which_challenge: str,
        mask_func: MaskFunc | None = None,
        use_seed: bool = True,
        clamp: float | None = CLAMP,
        fast: bool = True,
    ) -> None:
        self.which_challenge = check_challenge(which_challenge)
        self.mask_func = mask_func
        self.use_seed = use_seed
        self.clamp = clamp
        self.fast = fast

    def _mask_arguments(self, attrs: dict[str, Any], fname: str) -> tuple:
        """The seed and the phase-encode padding the mask of this slice is drawn with."""
        return (mask_seed(fname) if self.use_seed else None), mask_padding(attrs)

    def masked_kspace(
        self, kspace: np.ndarray, mask: np.ndarray | None, attrs: dict[str, Any], fname: str
    ) -> Tensor:
        """The undersampled k-space as a float32 real-view tensor, (..., rows, cols, 2)."""
        kspace_torch = to_tensor(kspace).to(torch.float32)
        if mask is not None or self.mask_func is None:
            return kspace_torch
        seed, padding = self._mask_arguments(attrs, fname)
        return apply_mask(kspace_torch, self.mask_func, seed=seed, padding=padding)[0]

    def kept_columns(
        self, kspace: np.ndarray, mask: np.ndarray | None, attrs: dict[str, Any], fname: str
    ) -> Tensor | None:
        """The phase-encode columns ``masked_kspace`` keeps (the same draw of the same mask);
        ``None`` where it keeps the k-space as stored."""
        if mask is not None or self.mask_func is None:
            return None
        seed, padding = self._mask_arguments(attrs, fname)
        shape = (1,) * (kspace.ndim - 2) + (*kspace.shape[-2:], 2)  # apply_mask's mask shape
        drawn, _ = self.mask_func(shape, None, seed)
        if padding is not None:
            drawn[..., : padding[0], :] = 0
            drawn[..., padding[1] :, :] = 0
        return sampled_columns(drawn)

    @staticmethod
    def crop_size(width: int, target: np.ndarray | None, attrs: dict[str, Any]) -> tuple:
        """The target's size (or ``recon_size``), narrowed to the k-space width when wider."""
        if target is not None:
            return output_size(width, target.shape, ())
        return output_size(width, None, attrs["recon_size"])

    def image(self, kspace: np.ndarray, mask: np.ndarray | None, size: tuple, **context) -> Tensor:
        """The zero-filled magnitude image (RSS for multicoil) cropped to ``size``.

        Args:
            kspace, mask: as for ``__call__``.
            size: (height, width), from ``crop_size``.
            **context: ``attrs`` and ``fname``, as for ``__call__`` (they seed and pad the mask).
        """
        attrs, fname = context["attrs"], context["fname"]
        coil_dim = -3 if self.which_challenge == "multicoil" else None
        if self.fast:
            columns = self.kept_columns(kspace, mask, attrs, fname)
            kspace_torch = torch.from_numpy(np.asarray(kspace)).to(torch.complex64)
            return image_from_kspace(kspace_torch, size, columns, coil_dim)
        image = fastmri.ifft2c(self.masked_kspace(kspace, mask, attrs, fname))
        image = fastmri.complex_abs(complex_center_crop(image, size))
        return image if coil_dim is None else fastmri.rss(image)

    def __call__(
        self,
        kspace: np.ndarray,
        mask: np.ndarray | None,
        target: np.ndarray | None,
        attrs: dict[str, Any],
        fname: str,
        slice_num: int,
    ) -> UnetSample:
        """Builds the sample of one slice.

        Args:
            kspace: the slice's complex k-space.
            mask: the file's stored sampling mask (test files), else ``None``.
            target: the slice's target image, or ``None`` for test files.
            attrs: file attributes and header metadata (``max``, ``padding_*``, ``recon_size``).
            fname: the volume's file name (seeds the mask when ``use_seed``).
            slice_num: the slice index.

        Returns:
            The ``UnetSample``.
        """
        size = self.crop_size(kspace.shape[-1], target, attrs)
        image = self.image(kspace, mask, size, attrs=attrs, fname=fname)
        image, mean, std = normalize_instance(image, eps=NORMALIZE_EPS)
        if self.clamp is not None:
            image = image.clamp(-self.clamp, self.clamp)
        if target is not None:
            target_torch = center_crop(to_tensor(target), size)
            target_torch = normalize(target_torch, mean, std, eps=NORMALIZE_EPS)
            if self.clamp is not None:
                target_torch = target_torch.clamp(-self.clamp, self.clamp)
        else:
            target_torch = torch.Tensor([0])
        return UnetSample(
            image=image,
            target=target_torch,
            mean=mean,
            std=std,
            fname=fname,
            slice_num=slice_num,
            max_value=attrs.get("max", 0.0),
        )
