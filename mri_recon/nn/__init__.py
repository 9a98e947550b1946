"""From-scratch neural-network layers checked against PyTorch: convolutions and normalization."""

from mri_recon.nn.conv import Conv1d, Conv2d, ConvTranspose2d
from mri_recon.nn.norm import BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm

__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv1d",
    "Conv2d",
    "ConvTranspose2d",
    "GroupNorm",
    "InstanceNorm2d",
    "LayerNorm",
]
