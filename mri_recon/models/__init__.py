"""Reconstruction models built from :mod:`mri_recon.nn`: fastMRI's U-Net and End-to-end VarNet,
and the loading of fastMRI's weights."""

from mri_recon.models.fastmri_weights import load_fastmri_state_dict
from mri_recon.models.unet import Unet
from mri_recon.models.varnet import VarNet

__all__ = ["Unet", "VarNet", "load_fastmri_state_dict"]
