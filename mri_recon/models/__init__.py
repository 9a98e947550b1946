"""Reconstruction models built from :mod:`mri_recon.nn`: fastMRI's U-Net and its weights."""

from mri_recon.models.fastmri_weights import load_fastmri_state_dict
from mri_recon.models.unet import Unet

__all__ = ["Unet", "load_fastmri_state_dict"]
