"""Training with PyTorch Lightning 2.x: the LightningModule, its metrics, callbacks, the
checkpoint callback and the CLI. Reading a checkpoint (``mri_recon.models.checkpoint``) needs none
of it.

The names below load on first use (PEP 562).
"""

from mri_recon.lazy import lazy_attributes

_HOMES = {"ReconModule": "module"}

__all__ = sorted(_HOMES)

__getattr__, __dir__ = lazy_attributes(__name__, _HOMES)
