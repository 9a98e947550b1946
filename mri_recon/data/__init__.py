"""The fastMRI data layer: slice datasets, masks, U-Net and VarNet transforms, loaders.

The names below load on first use (PEP 562), so the light modules of this package
(``fastmri_format``, ``masks``: the command line's choices) import without torch, h5py or fastmri,
and the simulator does not pay for Lightning.
"""

from mri_recon.lazy import lazy_attributes

_HOMES = {
    "BadFileError": "file_check",
    "FastMriDataModule": "datamodule",
    "SliceDataset": "slice_dataset",
    "UnetDataTransform": "unet_transform",
    "UnetSample": "unet_transform",
    "VarNetDataTransform": "varnet_transform",
    "VarNetSample": "varnet_transform",
    "VolumeSampler": "volume_sampler",
    "create_mask": "masks",
}

__all__ = sorted(_HOMES)

__getattr__, __dir__ = lazy_attributes(__name__, _HOMES)
