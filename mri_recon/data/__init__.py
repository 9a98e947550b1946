"""The fastMRI data layer: slice datasets, undersampling masks, U-Net transforms and loaders."""

from mri_recon.data.datamodule import FastMriDataModule
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
