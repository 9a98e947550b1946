"""The functional forms of every from-scratch layer in one namespace, as ``torch.nn.functional``.

Each function has the signature of its ``torch.nn.functional`` namesake (the norms add a
keyword-only ``fused``). They live in two modules, each with its own derivation:

- :mod:`mri_recon.nn.conv_functional`: ``conv1d``, ``conv2d``, ``conv_transpose2d`` (im2col and
  one matmul, hand-written backward) and their output-size helpers.
- :mod:`mri_recon.nn.norm_functional`: ``batch_norm``, ``instance_norm``, ``group_norm``,
  ``layer_norm`` (one autograd Function, four views of the input).
"""

from mri_recon.nn.conv_functional import (
    conv1d,
    conv2d,
    conv_output_size,
    conv_transpose2d,
    conv_transpose_output_size,
)
from mri_recon.nn.norm_functional import batch_norm, group_norm, instance_norm, layer_norm

__all__ = [
    "batch_norm",
    "conv1d",
    "conv2d",
    "conv_output_size",
    "conv_transpose2d",
    "conv_transpose_output_size",
    "group_norm",
    "instance_norm",
    "layer_norm",
]
