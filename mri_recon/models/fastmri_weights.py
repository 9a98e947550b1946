"""Load ``fastmri.models.Unet`` and ``fastmri.models.VarNet`` state dicts (fastMRI's published
weights) into our Unet and VarNet.

:class:`mri_recon.models.Unet` and :class:`mri_recon.models.VarNet` keep fastMRI's module names
and nesting, so the mapping from a fastMRI key to ours is the identity. With L = num_pool_layers
the U-Net's keys are:

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

A VarNet's keys are those of its U-Nets under ``sens_net.norm_unet.unet.`` (the sensitivity
network) and ``cascades.{i}.model.unet.`` (cascade i), plus ``cascades.{i}.dc_weight``, shape (1,),
the weight of cascade i's data-consistency step.

fastMRI's Lightning checkpoints hold the same keys under ``state_dict`` with the prefix of the
module's attribute (``unet.`` in ``UnetModule``, ``varnet.`` in ``VarNetModule``; ``model.`` is
accepted too); a whole checkpoint dict (with a ``state_dict`` entry) is accepted, and keys outside
the prefix are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from mri_recon.models.varnet import VarNet

PREFIXES = ("", "unet.", "varnet.", "model.")
_UNET_PROBE = "down_sample_layers.0.layers.0.weight"
# The first key of each network's state dict (by class name), which identifies it.
_PROBES = {
    "Unet": _UNET_PROBE,
    "VarNet": "sens_net.norm_unet.unet." + _UNET_PROBE,
}
_NAMES = {"Unet": "U-Net", "VarNet": "VarNet"}  # how messages name each network


def _weights(state_dict: Mapping[str, object], probe: str) -> Mapping[str, object]:
    """The mapping that holds the weights: ``state_dict``, or the checkpoint's ``state_dict``."""
    inner = state_dict.get("state_dict")
    if probe not in state_dict and isinstance(inner, Mapping):
        return inner
    return state_dict


def fastmri_network(state_dict: Mapping[str, object]) -> str | None:
    """Which fastMRI network's weights ``state_dict`` holds (as :func:`map_fastmri_keys` accepts
    them): ``"VarNet"``, ``"Unet"``, or ``None`` for neither."""
    for network, probe in _PROBES.items():
        weights = _weights(state_dict, probe)
        if any(prefix + probe in weights for prefix in PREFIXES):
            return network
    return None


def fastmri_keys(state_dict: Mapping[str, object], network: str) -> dict[str, Tensor]:
    """The tensors of a fastMRI ``network`` (``"Unet"`` or ``"VarNet"``) under our key names;
    see :func:`map_fastmri_keys`."""
    probe = _PROBES[network]
    state_dict = _weights(state_dict, probe)
    for prefix in PREFIXES:
        if prefix + probe in state_dict:
            return {
                key[len(prefix) :]: value
                for key, value in state_dict.items()
                if key.startswith(prefix)
            }
    looked_for = ", ".join(repr(p + probe) for p in PREFIXES)
    raise ValueError(
        f"state_dict: no fastMRI {_NAMES[network]} weights found (looked for {looked_for})"
    )


def map_fastmri_keys(
    state_dict: Mapping[str, object], model: nn.Module | None = None
) -> dict[str, Tensor]:
    """Our network's state dict from a fastMRI U-Net or VarNet state dict or Lightning checkpoint.

    Args:
        state_dict: ``fastmri.models.Unet().state_dict()`` (or ``VarNet``'s), the same with a
            ``unet.``, ``varnet.`` or ``model.`` prefix, or a checkpoint dict holding one of those
            under ``state_dict``.
        model: the network the weights are for, a ``Unet`` (also when ``None``) or ``VarNet``.

    Returns:
        The tensors under our key names (the identity mapping, prefix removed).

    Raises:
        ValueError: if no weights of that network are found (the message names the key looked
            for).
    """
    return fastmri_keys(state_dict, "VarNet" if isinstance(model, VarNet) else "Unet")


def load_fastmri_state_dict(model: nn.Module, state_dict: Mapping[str, object]) -> None:
    """Copy fastMRI U-Net or VarNet weights into ``model`` (strictly: every key, every shape).

    The model keeps its dtype, device and memory format; the values are copied in.

    Args:
        model: the Unet or VarNet to load into, built with the sizes of the fastMRI network the
            weights come from (in_chans, out_chans, chans, num_pool_layers; num_cascades,
            sens_chans, sens_pools, chans, pools).
        state_dict: as :func:`map_fastmri_keys` accepts.

    Raises:
        ValueError: one line naming the first missing, unexpected or wrongly shaped key (with
            both shapes), before anything is copied.
    """
    mapped = map_fastmri_keys(state_dict, model)
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
