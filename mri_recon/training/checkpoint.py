"""Self-describing checkpoints: what ``ReconModule`` adds to a Lightning checkpoint, and loading it.

Lightning's checkpoint holds the weights and the training state. ``ReconModule`` adds a section
``mri_recon`` with everything needed to use the weights without the training config::

    {"format": 1,
     "net": {"in_chans": 1, "out_chans": 1, "chans": 32, ...},        # Unet's arguments
     "data": {"challenge": "multicoil", "mask_type": "random",
              "center_fractions": [0.08], "accelerations": [4]}}    # or None without a datamodule

``load_checkpoint`` reads it with ``torch.load(weights_only=True)`` (no pickled code runs) and
rebuilds the network in eval mode.
"""

import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mri_recon.models import Unet

ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since PyTorch 1.6
PICKLE_MAGIC = b"\x80"  # the legacy format: a bare pickle
SECTION = "mri_recon"
FORMAT = 1
DATA_KEYS = ("challenge", "mask_type", "center_fractions", "accelerations")
NET_PREFIX = "net."
NET_NAMES = {"Unet": "U-Net"}  # how reports and figures name each network class


def checkpoint_section(net: nn.Module, data_hparams: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``mri_recon`` section for a checkpoint of ``net`` trained with ``data_hparams``.

    Args:
        net: the trained network; must be a ``mri_recon.models.Unet``.
        data_hparams: the datamodule's hyperparameters (``FastMriDataModule.hparams``) or
            ``None`` when training ran without a datamodule.
    """
    if not isinstance(net, Unet):
        raise TypeError(f"only mri_recon.models.Unet checkpoints are supported, got {type(net)}")
    data = None
    if data_hparams is not None and all(key in data_hparams for key in DATA_KEYS):
        data = {key: data_hparams[key] for key in DATA_KEYS}
        data["center_fractions"] = [float(f) for f in data["center_fractions"]]
        data["accelerations"] = [int(a) for a in data["accelerations"]]
    return {SECTION: {"format": FORMAT, "net": net.config(), "data": data}}


@dataclass
class ReconCheckpoint:
    """A trained network and the settings it was trained with.

    Attributes:
        path: the checkpoint file.
        net: the network in eval mode on the CPU.
        data: challenge and mask settings (``DATA_KEYS``), or ``None`` when not recorded.
        epoch: training epochs completed.
        global_step: optimizer steps taken.
    """

    path: Path
    net: Unet
    data: dict[str, Any] | None
    epoch: int
    global_step: int

    @property
    def net_name(self) -> str:
        """The network's name in reports and figures, e.g. ``U-Net``."""
        name = type(self.net).__name__
        return NET_NAMES.get(name, name)


def load_checkpoint(path: str | Path) -> ReconCheckpoint:
    """Loads an ``mri-recon fit`` checkpoint without running pickled code.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is not a PyTorch checkpoint, or not one written by ``ReconModule``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path}: no such file")
    with open(path, "rb") as f:
        header = f.read(4)
    if header != ZIP_MAGIC and header[:1] != PICKLE_MAGIC:
        raise ValueError(f"checkpoint {path}: not a PyTorch checkpoint file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # weights_only refused an object that is not plain data
        raise ValueError(
            f"checkpoint {path}: holds objects other than tensors and plain data, so it is not "
            "an mri-recon checkpoint (these load without running code)"
        ) from None
    except Exception as error:  # torch raises several types for damaged files
        text = str(error).strip()
        reason = text.splitlines()[0] if text else type(error).__name__
        raise ValueError(f"checkpoint {path}: damaged or unreadable ({reason})") from None
    section = checkpoint.get(SECTION) if isinstance(checkpoint, dict) else None
    if not isinstance(section, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"checkpoint {path}: not an mri-recon checkpoint (no '{SECTION}' section)")
    if section.get("format") != FORMAT:
        raise ValueError(f"checkpoint {path}: unsupported format {section.get('format')!r}")
    net = Unet(**section["net"])
    weights = {
        key[len(NET_PREFIX) :]: value
        for key, value in checkpoint["state_dict"].items()
        if key.startswith(NET_PREFIX)
    }
    try:
        net.load_state_dict(weights)
    except RuntimeError as error:
        raise ValueError(f"checkpoint {path}: weights do not fit the network ({error})") from None
    return ReconCheckpoint(
        path=path,
        net=net.eval(),
        data=section["data"],
        epoch=int(checkpoint.get("epoch", 0)),
        global_step=int(checkpoint.get("global_step", 0)),
    )
