"""Load ``fastmri.models.Unet`` state dicts (fastMRI's published U-Net weights) into our Unet.

:class:`mri_recon.models.Unet` keeps fastMRI's module names and nesting, so the mapping from a
fastMRI key to ours is the identity. With L = num_pool_layers the keys are:

=========================================  ==================================================
key (fastMRI and ours)                     tensor
=========================================  ==================================================
``down_sample_layers.{i}.layers.0.weight`` first 3x3 conv of down block i (i < L), (O, C, 3, 3)
``down_sample_layers.{i}.layers.4.weight`` second 3x3 conv of down block i, (O, O, 3, 3)
``conv.layers.{0,4}.weight``               the bottom ConvBlock's two 3x3 convs
``up_transpose_conv.{i}.layers.0.weight``  2x2 stride-2 transposed conv (i < L), (C, O, 2, 2)
``up_conv.{i}.layers.{0,4}.weight``        up ConvBlock i (i < L - 1)
``up_conv.{L-1}.0.layers.{0,4}.weight``    the last up ConvBlock
``up_conv.{L-1}.1.weight`` / ``.bias``     the final 1x1 conv to out_chans, (out, chans, 1, 1)
=========================================  ==================================================

Index 1 of each ``layers`` Sequential is the norm: fastMRI's InstanceNorm2d has no parameters or
buffers, like our ``"instance"``, ``"group"``, ``"layer"`` and ``"none"`` norms. ``norm="batch"``
adds running statistics (``...layers.1.running_mean`` etc.) that a fastMRI state dict lacks, so
loading one into such a model fails on the first missing key.

fastMRI's Lightning checkpoints hold the same keys under ``state_dict`` with the prefix of the
module's attribute (``unet.`` in ``UnetModule``; ``model.`` is accepted too); a whole checkpoint
dict (with a ``state_dict`` entry) is accepted, and keys outside the prefix are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from mri_recon.models.unet import Unet

PREFIXES = ("", "unet.", "model.")
_PROBE = "down_sample_layers.0.layers.0.weight"


def map_fastmri_keys(state_dict: Mapping[str, object]) -> dict[str, Tensor]:
    """Our Unet's state dict from a fastMRI U-Net state dict or Lightning checkpoint.

    Args:
        state_dict: ``fastmri.models.Unet().state_dict()``, the same with a ``unet.`` or
            ``model.`` prefix, or a checkpoint dict holding one of those under ``state_dict``.

    Returns:
        The tensors under our key names (the identity mapping, prefix removed).

    Raises:
        ValueError: if no U-Net weights are found (the message names the key looked for).
    """
    inner = state_dict.get("state_dict")
    if _PROBE not in state_dict and isinstance(inner, Mapping):
        state_dict = inner
    for prefix in PREFIXES:
        if prefix + _PROBE in state_dict:
            return {
                key[len(prefix) :]: value
                for key, value in state_dict.items()
                if key.startswith(prefix)
            }
    looked_for = ", ".join(repr(p + _PROBE) for p in PREFIXES)
    raise ValueError(f"state_dict: no fastMRI U-Net weights found (looked for {looked_for})")


def load_fastmri_state_dict(model: Unet, state_dict: Mapping[str, object]) -> None:
    """Copy fastMRI U-Net weights into ``model`` (strictly: every key, every shape).

    The model keeps its dtype, device and memory format; the values are copied in.

    Args:
        model: the Unet to load into, built with fastMRI's in_chans, out_chans, chans and
            num_pool_layers.
        state_dict: as :func:`map_fastmri_keys` accepts.

    Raises:
        ValueError: one line naming the first missing, unexpected or wrongly shaped key (with
            both shapes), before anything is copied.
    """
    mapped = map_fastmri_keys(state_dict)
    expected = model.state_dict()
    for key, target in expected.items():
        if key not in mapped:
            raise ValueError(
                f"state_dict: missing key {key!r} (model expects {tuple(target.shape)})"
            )
        value = mapped[key]
        if not isinstance(value, Tensor):
            raise ValueError(f"state_dict: {key!r} is a {type(value).__name__}, not a tensor")
        if value.shape != target.shape:
            raise ValueError(
                f"state_dict: {key!r} has shape {tuple(value.shape)} but the model expects "
                f"{tuple(target.shape)}"
            )
    unexpected = [key for key in mapped if key not in expected]
    if unexpected:
        raise ValueError(f"state_dict: unexpected key {unexpected[0]!r} (not in the model)")
    model.load_state_dict(mapped, strict=True)
