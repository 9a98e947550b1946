"""The fastMRI data layer: slice datasets, undersampling masks, U-Net transforms and loaders."""

from mri_recon.data.file_check import BadFileError
from mri_recon.data.masks import create_mask
from mri_recon.data.slice_dataset import SliceDataset
from mri_recon.data.transforms import UnetDataTransform, UnetSample
from mri_recon.data.volume_sampler import VolumeSampler

__all__ = [
    "BadFileError",
    "FastMriDataModule",
    "SliceDataset",
    "UnetDataTransform",
    "UnetSample",
    "VolumeSampler",
    "create_mask",
]


def __getattr__(name: str) -> object:
    # The data module imports pytorch_lightning, which takes seconds: load it on first use only,
    # so that the simulator and other light users of this package start fast.
    if name == "FastMriDataModule":
        from mri_recon.data.datamodule import FastMriDataModule

        return FastMriDataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
