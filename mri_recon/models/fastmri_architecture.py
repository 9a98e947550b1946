"""The architecture of a fastMRI U-Net or VarNet, read from its state dict's key names and shapes.

fastMRI publishes its trained networks as bare state dicts (``torch.save(model.state_dict())``)
and its Lightning modules save them under ``state_dict`` with a prefix; neither records the
constructor arguments. They follow from the tensors (keys as in ``fastmri_weights``, L the
pooling levels):

- U-Net: ``down_sample_layers.0.layers.0.weight`` is (chans, in_chans, 3, 3); L is the number of
  ``down_sample_layers.{i}`` blocks; ``up_conv.{L-1}.1.weight`` (the final 1x1 conv) is
  (out_chans, chans, 1, 1).
- VarNet: ``num_cascades`` is the number of ``cascades.{i}.dc_weight``; ``chans`` and ``pools``
  are those of the U-Net under ``cascades.0.model.unet.``, ``sens_chans`` and ``sens_pools``
  those under ``sens_net.norm_unet.unet.``; both U-Nets map 2 channels (real, imaginary) to 2.

Everything else is then checked by loading the weights strictly into a network built with these
arguments (every key, every shape), so a state dict of mixed sizes fails on its first odd tensor.
What a state dict cannot say is not guessed here: fastMRI's networks use instance norms (no
parameters) and the VarNet's ``mask_center`` is fastMRI's default unless the caller says otherwise.
"""

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from mri_recon.models.fastmri_weights import (
    fastmri_keys,
    fastmri_network,
    load_fastmri_state_dict,
)
from mri_recon.models.unet import Unet
from mri_recon.models.varnet import VarNet

NETWORK_CLASSES: dict[str, type[nn.Module]] = {"Unet": Unet, "VarNet": VarNet}
# The constructor arguments a recipe may add (they change no tensor), per network.
RECIPE_ARGUMENTS = {
    "Unet": ("conv_impl", "norm_impl"),
    "VarNet": ("conv_impl", "norm_impl", "mask_center"),
}
# Their values without a recipe: torch's kernels (the bundled recipes' choice) and fastMRI's
# default mask_center.
DEFAULT_ARGUMENTS = {"conv_impl": "aten", "norm_impl": "aten", "mask_center": True}
SENS_PREFIX = "sens_net.norm_unet.unet."
CASCADE_PREFIX = "cascades.{}.model.unet."


def _conv_weight(state: Mapping[str, object], key: str) -> Tensor:
    """The 4-D convolution weight ``state[key]``."""
    value = state.get(key)
    if value is None:
        raise ValueError(f"no tensor {key!r}, so the architecture cannot be read")
    if not isinstance(value, Tensor) or value.dim() != 4:
        shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
        raise ValueError(f"{key!r} is {shape}, not a 4-D convolution weight")
    return value


def unet_architecture(state: Mapping[str, object], prefix: str = "") -> dict[str, int]:
    """``in_chans``, ``out_chans``, ``chans`` and ``num_pool_layers`` of the fastMRI U-Net whose
    tensors are ``state[prefix + key]`` (keys without a checkpoint's module prefix).

    Raises:
        ValueError: a tensor the architecture is read from is missing or not a conv weight.
    """
    chans, in_chans = _conv_weight(state, f"{prefix}down_sample_layers.0.layers.0.weight").shape[:2]
    num_pool_layers = 1
    while f"{prefix}down_sample_layers.{num_pool_layers}.layers.0.weight" in state:
        num_pool_layers += 1
    out_chans = _conv_weight(state, f"{prefix}up_conv.{num_pool_layers - 1}.1.weight").shape[0]
    return {
        "in_chans": int(in_chans),
        "out_chans": int(out_chans),
        "chans": int(chans),
        "num_pool_layers": num_pool_layers,
    }


def varnet_architecture(state: Mapping[str, object]) -> dict[str, int]:
    """``num_cascades``, ``sens_chans``, ``sens_pools``, ``chans`` and ``pools`` of the fastMRI
    VarNet whose tensors are ``state`` (keys without a checkpoint's module prefix).

    Raises:
        ValueError: no cascade, a U-Net whose architecture cannot be read, or one that does not
            map the 2 channels of a complex image to 2.
    """
    num_cascades = 0
    while f"cascades.{num_cascades}.dc_weight" in state:
        num_cascades += 1
    if num_cascades == 0:
        raise ValueError("no tensor 'cascades.0.dc_weight': a VarNet without cascades")
    unets = {"sensitivity": SENS_PREFIX, "cascade": CASCADE_PREFIX.format(0)}
    found = {name: unet_architecture(state, prefix) for name, prefix in unets.items()}
    for name, arch in found.items():
        if (arch["in_chans"], arch["out_chans"]) != (2, 2):
            raise ValueError(
                f"the {name} U-Net ({unets[name]}*) maps {arch['in_chans']} channels to "
                f"{arch['out_chans']}, not 2 to 2 (a complex image)"
            )
    return {
        "num_cascades": num_cascades,
        "sens_chans": found["sensitivity"]["chans"],
        "sens_pools": found["sensitivity"]["num_pool_layers"],
        "chans": found["cascade"]["chans"],
        "pools": found["cascade"]["num_pool_layers"],
    }


def fastmri_architecture(content: object) -> tuple[str, dict[str, int]]:
    """The network (``"Unet"`` or ``"VarNet"``) and architecture of fastMRI weights.

    Args:
        content: a loaded fastMRI state dict or Lightning checkpoint (as ``map_fastmri_keys``
            takes).

    Raises:
        ValueError: ``content`` holds no fastMRI weights, or their architecture cannot be read.
    """
    network = fastmri_network(content) if isinstance(content, Mapping) else None
    if network is None:
        raise ValueError("holds no fastMRI U-Net or VarNet weights")
    state = fastmri_keys(content, network)
    if network == "VarNet":
        return network, varnet_architecture(state)
    return network, unet_architecture(state)


def build_fastmri_network(
    content: object, recipe_args: Mapping[str, Any] | None = None
) -> nn.Module:
    """The network of fastMRI weights with those weights loaded, in eval mode on the CPU.

    Args:
        content: as :func:`fastmri_architecture` takes.
        recipe_args: constructor arguments of a recipe's network of the same class; only those
            that change no tensor (``RECIPE_ARGUMENTS``) are used, the rest default to
            ``DEFAULT_ARGUMENTS``.

    Raises:
        ValueError: as :func:`fastmri_architecture`, or a tensor that does not fit (its key and
            both shapes).
    """
    network, arch = fastmri_architecture(content)
    given = recipe_args or {}
    extra = {key: given.get(key, DEFAULT_ARGUMENTS[key]) for key in RECIPE_ARGUMENTS[network]}
    net = NETWORK_CLASSES[network](**arch, **extra)
    load_fastmri_state_dict(net, content)
    return net.eval()
