"""From-scratch optimizers, drop-in twins of their ``torch.optim`` namesakes."""

from mri_recon.optim.adam import Adam
from mri_recon.optim.adamw import AdamW
from mri_recon.optim.rmsprop import RMSprop
from mri_recon.optim.sgd import SGD

__all__ = ["SGD", "RMSprop", "Adam", "AdamW"]
