"""The networks ``ReconModule`` trains and the commands run, and what differs between them.

A U-Net (``mri_recon.models.Unet``) maps a normalised zero-filled image to a normalised image; its
samples are ``UnetSample``s. A VarNet (``mri_recon.models.VarNet``) maps masked multicoil k-space to
an image in the data's scale; its samples are ``VarNetSample``s. Both sample types answer
``unnormalize`` (the identity for VarNet samples) and ``zero_filled``, so the loss, the metrics,
the checkpoints and the volume loop treat the two alike through the functions here.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastmri.data.subsample import MaskFunc
from torch import Tensor, nn

from mri_recon.data.unet_device_transform import KspaceSliceTransform
from mri_recon.data.unet_transform import CLAMP, UnetDataTransform
from mri_recon.data.varnet_transform import VarNetDataTransform, VarNetSample
from mri_recon.models import Unet, VarNet
from mri_recon.models.norm_unet import pad_widths

NETWORKS: dict[str, type[nn.Module]] = {"Unet": Unet, "VarNet": VarNet}
NET_NAMES = {"Unet": "U-Net", "VarNet": "VarNet"}  # how reports and figures name each network
DEFAULT_LOSSES = {"Unet": "l1", "VarNet": "ssim"}  # fastMRI's recipe for each


def network_class(net: nn.Module) -> str:
    """The key of ``net``'s class in ``NETWORKS``.

    Raises:
        TypeError: ``net`` is neither a ``Unet`` nor a ``VarNet``.
    """
    for name, cls in NETWORKS.items():
        if isinstance(net, cls):
            return name
    raise TypeError(
        f"model.net: only mri_recon.models.Unet and mri_recon.models.VarNet are supported, "
        f"got {type(net).__name__}"
    )


def image_problem(
    net: nn.Module, kspace_shape: tuple[int, ...], image_size: tuple[int, int]
) -> str | None:
    """Why a file's slices cannot run through ``net`` (``None`` when they can): images too small
    for its pooling levels. A U-Net sees ``image_size``; a VarNet's U-Nets see the whole k-space
    image, padded to a multiple of 16 (``models.norm_unet``).

    Args:
        net: a ``Unet`` or ``VarNet``.
        kspace_shape: the file's k-space shape, (slices, [coils,] rows, columns).
        image_size: the (height, width) of its U-Net samples (``output_size``).
    """
    if isinstance(net, VarNet):
        unets = [module for module in net.modules() if isinstance(module, Unet)]
        size = tuple(n + sum(pad_widths(n)) for n in kspace_shape[-2:])
    else:
        unets, size = [net], image_size
    for unet in unets:
        try:
            unet.check_size(*size)
        except ValueError as error:
            return str(error)
    return None


def unusable_files(net: nn.Module, dataset: Any) -> dict[Path, str]:
    """The files of a ``SliceDataset`` whose slices cannot run through ``net``, with why
    (``image_problem``): leave them out before any work (``SliceDataset.leave_out``)."""
    problems = {
        file: image_problem(net, dataset.layouts[file].kspace_shape, size)
        for file, size in dataset.sample_sizes().items()
    }
    return {file: problem for file, problem in problems.items() if problem is not None}


def sample_transform(
    net: nn.Module | None,
    challenge: str,
    mask_func: MaskFunc | None,
    use_seed: bool,
    clamp: float | None = CLAMP,
    on_device: bool = False,
) -> UnetDataTransform | VarNetDataTransform:
    """The transform making the samples ``net`` takes (U-Net samples for ``None``).

    Args:
        net: the network.
        challenge: ``singlecoil`` or ``multicoil``.
        mask_func: draws the undersampling masks; ``None`` uses the k-space as stored.
        use_seed: masks seeded per file (validation, test, inference) or fresh (training).
        clamp: the U-Net transform's clipping of normalised images (``None``: none).
        on_device: the U-Net's FFTs left to the batch on the device (``KspaceSliceTransform``,
            see ``FastMriDataModule(transform_on_device=True)``); the VarNet's transform has none.
    """
    if isinstance(net, VarNet):
        return VarNetDataTransform(challenge, mask_func=mask_func, use_seed=use_seed)
    transform_class = KspaceSliceTransform if on_device else UnetDataTransform
    return transform_class(challenge, mask_func=mask_func, use_seed=use_seed, clamp=clamp)


def network_output(net: nn.Module, batch: Any, call: Callable[..., Tensor] | None = None) -> Tensor:
    """``net``'s reconstruction of a batch, (batch, H, W), in the scale of ``batch.target``:
    normalised for U-Net samples, the data's for VarNet samples (cropped to the target size).

    Args:
        net: the network.
        batch: U-Net or VarNet samples, batched.
        call: what runs ``net`` (``mri_recon.models.compiled.Compiled``); ``net`` itself by
            default.

    Raises:
        ValueError: the batch holds samples for the other kind of network.
    """
    call = call or net
    varnet = isinstance(net, VarNet)
    if varnet != isinstance(batch, VarNetSample):
        given = type(batch).__name__
        wanted = "VarNetSample" if varnet else "UnetSample"
        raise ValueError(
            f"model.net: a {type(net).__name__} takes {wanted} batches, got {given} (use the "
            "transform of mri_recon.models.registry.sample_transform)"
        )
    if varnet:
        return batch.crop(call(batch.masked_kspace, batch.mask, batch.num_low_frequencies))
    return call(batch.image.unsqueeze(1)).squeeze(1)
