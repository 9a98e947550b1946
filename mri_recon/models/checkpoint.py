"""Self-describing checkpoints: what ``ReconModule`` adds to a Lightning checkpoint, and loading it.

Lightning's checkpoint holds the weights and the training state. ``ReconModule`` adds a section
``mri_recon`` with everything needed to use the weights without the training config::

    {"format": 1,
     "network": "Unet",                                               # or "VarNet"
     "net": {"in_chans": 1, "out_chans": 1, "chans": 32, ...},        # its arguments
     "data": {"challenge": "multicoil", "mask_type": "random",
              "center_fractions": [0.08], "accelerations": [4]}}    # or None without a datamodule

``load_checkpoint`` reads it with ``torch.load(weights_only=True)`` (no pickled code runs) and
rebuilds the network in eval mode; checkpoints written before the VarNet have no ``network`` and
are U-Nets. It also takes the weights fastMRI publishes (a ``fastmri.models.Unet`` or ``VarNet``
state dict, or a fastMRI Lightning checkpoint): the architecture is read from the tensors
(``fastmri_architecture``) and the data settings, which a state dict does not record, come from a
recipe (``mri_recon.recipes.read_recipe``) when one is given. ``read_checkpoint_file`` is the one
reader of every path that takes a checkpoint (``--ckpt_path``, ``--model.pretrained``,
``--checkpoint``): one-line errors naming the file, and never the advice to turn ``weights_only``
off.
"""

import pickle
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mri_recon.models.fastmri_architecture import build_fastmri_network
from mri_recon.models.registry import NET_NAMES, NETWORKS, network_class
from mri_recon.recipes import Recipe

ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since PyTorch 1.6
PICKLE_MAGIC = b"\x80"  # the legacy format: a bare pickle
SECTION = "mri_recon"
FORMAT = 1
DATA_KEYS = ("challenge", "mask_type", "center_fractions", "accelerations")
NET_PREFIX = "net."
TRAINING_STATE_KEYS = ("loops", "optimizer_states")  # what resuming needs beyond the weights


def checkpoint_section(net: nn.Module, data_hparams: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``mri_recon`` section for a checkpoint of ``net`` trained with ``data_hparams``.

    Args:
        net: the trained network, a ``mri_recon.models.Unet`` or ``VarNet``.
        data_hparams: the datamodule's hyperparameters (``FastMriDataModule.hparams``) or
            ``None`` when training ran without a datamodule.
    """
    network = network_class(net)
    data = None
    if data_hparams is not None and all(key in data_hparams for key in DATA_KEYS):
        data = {key: data_hparams[key] for key in DATA_KEYS}
        data["center_fractions"] = [float(f) for f in data["center_fractions"]]
        data["accelerations"] = [int(a) for a in data["accelerations"]]
    return {SECTION: {"format": FORMAT, "network": network, "net": net.config(), "data": data}}


@dataclass
class ReconCheckpoint:
    """A trained network and the settings it was trained with.

    Attributes:
        path: the checkpoint file.
        net: the network in eval mode on the CPU.
        data: challenge and mask settings (``DATA_KEYS``), or ``None`` when not recorded.
        epoch: training epochs completed.
        global_step: optimizer steps taken.
        recipe: for fastMRI's weights, the recipe their data settings came from (``None``: no
            recipe, so ``data`` is ``None``); ``None`` for mri-recon's checkpoints too.
        published: the file holds fastMRI's weights, not an mri-recon checkpoint.
    """

    path: Path
    net: nn.Module
    data: dict[str, Any] | None
    epoch: int
    global_step: int
    recipe: str | None = None
    published: bool = False

    @property
    def net_name(self) -> str:
        """The network's name in reports and figures: ``U-Net`` or ``VarNet``."""
        return NET_NAMES[network_class(self.net)]


def read_checkpoint_file(path: str | Path, label: str = "checkpoint") -> Any:
    """The contents of a PyTorch checkpoint file, loaded with ``weights_only=True``.

    Args:
        path: the file.
        label: how messages name it (the command-line argument: ``checkpoint``, ``ckpt_path``,
            ``pretrained``).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: one line naming the file: not a PyTorch file, damaged, or holding objects
            other than tensors and plain data (which would run code when loaded).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{label} {path}: no such file")
    with open(path, "rb") as f:
        header = f.read(4)
    if header != ZIP_MAGIC and header[:1] != PICKLE_MAGIC:
        raise ValueError(f"{label} {path}: not a PyTorch checkpoint file")
    try:
        with warnings.catch_warnings():  # torch's note on the pickle protocol of foreign files
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # weights_only refused an object that is not plain data
        raise ValueError(
            f"{label} {path}: holds objects other than tensors and plain data, so it is not a "
            "checkpoint of this project or of fastMRI (those load without running any code)"
        ) from None
    except Exception as error:  # torch raises several types for damaged files
        text = str(error).strip()
        reason = text.splitlines()[0] if text else type(error).__name__
        raise ValueError(f"{label} {path}: damaged or unreadable ({reason})") from None


def recon_section(checkpoint: Any, path: str | Path, label: str = "checkpoint") -> dict[str, Any]:
    """The ``mri_recon`` section of a loaded checkpoint, checked.

    Raises:
        ValueError: not a checkpoint of ``ReconModule``, of an unsupported format, or holding
            sections of the wrong types (one line naming the file).
    """
    section = checkpoint.get(SECTION) if isinstance(checkpoint, dict) else None
    if not isinstance(section, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"{label} {path}: not an mri-recon checkpoint (no '{SECTION}' section)")
    if section.get("format") != FORMAT:
        raise ValueError(f"{label} {path}: unsupported format {section.get('format')!r}")
    network = section.setdefault("network", "Unet")  # written before the VarNet: a U-Net
    if network not in NETWORKS:
        raise ValueError(f"{label} {path}: unknown network {network!r} (known: {list(NETWORKS)})")
    try:
        _check_contents(checkpoint, section)
    except ValueError as error:
        raise ValueError(f"{label} {path}: {error}") from None
    return section


def _is_number(value: Any, kind: type | tuple[type, ...] = (int, float)) -> bool:
    return isinstance(value, kind) and not isinstance(value, bool)


def _check_contents(checkpoint: dict[str, Any], section: dict[str, Any]) -> None:
    """Checks the types of what loading reads: weights, network arguments, the data settings
    and the training counters (a crafted file fails here in one line, not in a traceback).

    Raises:
        ValueError: what is wrong, without the file's name.
    """
    from mri_recon.data.fastmri_format import CHALLENGES
    from mri_recon.data.masks import MASK_TYPES, check_mask_arguments

    weights = checkpoint["state_dict"]
    if not isinstance(weights, dict) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in weights.items()
    ):
        raise ValueError("'state_dict' must map names to tensors")
    if not isinstance(section.get("net"), dict) or not all(map(str.isidentifier, section["net"])):
        raise ValueError(f"'{SECTION}.net' must map argument names to values")
    for counter in ("epoch", "global_step"):
        if counter in checkpoint and not _is_number(checkpoint[counter], int):
            raise ValueError(f"'{counter}' must be an integer, got {checkpoint[counter]!r}")
    data = section.get("data")
    if data is None:
        return
    if not isinstance(data, dict) or set(data) != set(DATA_KEYS):
        raise ValueError(f"'{SECTION}.data' must hold {list(DATA_KEYS)}")
    if data["challenge"] not in CHALLENGES or data["mask_type"] not in MASK_TYPES:
        raise ValueError(
            f"'{SECTION}.data': unknown challenge {data['challenge']!r} or mask type "
            f"{data['mask_type']!r}"
        )
    for key, kind in (("center_fractions", (int, float)), ("accelerations", int)):
        values = data[key]
        if not isinstance(values, list) or not all(_is_number(v, kind) for v in values):
            raise ValueError(f"'{SECTION}.data.{key}' must be a list of numbers, got {values!r}")
    check_mask_arguments(data["mask_type"], data["center_fractions"], data["accelerations"])


def net_weights(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """The network's tensors of a ``ReconModule`` checkpoint, under the network's own keys."""
    return {
        key[len(NET_PREFIX) :]: value
        for key, value in checkpoint["state_dict"].items()
        if key.startswith(NET_PREFIX)
    }


def load_checkpoint(path: str | Path, recipe: Recipe | None = None) -> ReconCheckpoint:
    """Loads an ``mri-recon fit`` checkpoint, or fastMRI's weights, without running pickled code.

    Args:
        path: the file.
        recipe: for fastMRI's weights, the recipe giving their data settings (challenge,
            masks) and the arguments that change no tensor (``fastmri_architecture``); an
            mri-recon checkpoint records its own, so it takes none.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: one line naming the file: not a PyTorch checkpoint, neither an mri-recon
            checkpoint nor fastMRI weights, weights that do not fit, or a recipe of another
            network (or given with an mri-recon checkpoint).
    """
    path = Path(path)
    checkpoint = read_checkpoint_file(path)
    if not (isinstance(checkpoint, dict) and SECTION in checkpoint):
        return _published_checkpoint(path, checkpoint, recipe)
    if recipe is not None:
        raise ValueError(
            f"config: checkpoint {path} is mri-recon's and records its own settings; --config is "
            "for fastMRI's published weights"
        )
    section = recon_section(checkpoint, path)
    try:
        net = NETWORKS[section["network"]](**section["net"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"checkpoint {path}: invalid network settings ({error})") from None
    try:
        net.load_state_dict(net_weights(checkpoint))
    except RuntimeError as error:
        raise ValueError(f"checkpoint {path}: weights do not fit the network ({error})") from None
    return ReconCheckpoint(
        path=path,
        net=net.eval(),
        data=section["data"],
        epoch=int(checkpoint.get("epoch", 0)),
        global_step=int(checkpoint.get("global_step", 0)),
    )


def _published_checkpoint(path: Path, content: Any, recipe: Recipe | None) -> ReconCheckpoint:
    """fastMRI's weights in ``content`` as a checkpoint, with ``recipe``'s data settings."""
    try:
        net = build_fastmri_network(content, recipe.net_args if recipe is not None else None)
    except ValueError as error:
        reason = str(error).removeprefix("state_dict: ")
        if "no fastMRI U-Net or VarNet weights" in reason:
            raise ValueError(
                f"checkpoint {path}: not an mri-recon checkpoint (no '{SECTION}' section), nor "
                "fastMRI's U-Net or VarNet weights"
            ) from None
        raise ValueError(f"checkpoint {path}: fastMRI weights, but {reason}") from None
    network = network_class(net)
    if recipe is not None and recipe.network != network:
        raise ValueError(
            f"config {recipe.name}: a recipe for the "
            f"{NET_NAMES.get(recipe.network, recipe.network)}, but {path} holds "
            f"{NET_NAMES[network]} weights"
        )
    lightning = isinstance(content.get("state_dict"), dict)
    return ReconCheckpoint(
        path=path,
        net=net,
        data=dict(recipe.data) if recipe is not None else None,
        epoch=int(content.get("epoch", 0)) if lightning else 0,
        global_step=int(content.get("global_step", 0)) if lightning else 0,
        recipe=recipe.name if recipe is not None else None,
        published=True,
    )


def check_lightning_checkpoint(path: str | Path, resume: bool) -> dict[str, Any]:
    """Checks a ``--ckpt_path`` file before Lightning loads it; returns its ``mri_recon`` section.

    Args:
        path: the checkpoint.
        resume: it must hold the training state (``fit``), not only weights.

    Raises:
        FileNotFoundError, ValueError: one line naming the file and what is wrong with it.
    """
    checkpoint = read_checkpoint_file(path, "ckpt_path")
    section = recon_section(checkpoint, path, "ckpt_path")
    if "pytorch-lightning_version" not in checkpoint:
        raise ValueError(f"ckpt_path {path}: not written by Lightning (no version recorded)")
    if resume and not all(key in checkpoint for key in TRAINING_STATE_KEYS):
        raise ValueError(
            f"ckpt_path {path}: holds the weights only, not a training state to resume; to start "
            f"a new run from its weights use --model.pretrained {path}"
        )
    return section
