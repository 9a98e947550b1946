"""Training with PyTorch Lightning 2.x: the LightningModule, its metrics, checkpoints and CLI."""

from mri_recon.training.checkpoint import ReconCheckpoint, load_checkpoint
from mri_recon.training.module import ReconModule

__all__ = ["ReconCheckpoint", "ReconModule", "load_checkpoint"]
