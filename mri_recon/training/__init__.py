"""Training with PyTorch Lightning 2.x: the LightningModule, its metrics, callbacks, checkpoints
and CLI.

The names below load on first use (PEP 562): reading a checkpoint does not import Lightning.
"""

from mri_recon.lazy import lazy_attributes

_HOMES = {
    "ReconCheckpoint": "checkpoint",
    "ReconModule": "module",
    "load_checkpoint": "checkpoint",
}

__all__ = sorted(_HOMES)

__getattr__, __dir__ = lazy_attributes(__name__, _HOMES)
