"""The bundled training recipes: ``configs/*.yaml``, shipped inside the package.

The top-level ``configs/`` folder of a checkout is the package's ``mri_recon/configs`` (a link in
the source tree, real files in the wheel), so ``--config NAME`` finds a recipe by name from any
folder and any kind of install: ``mri-recon fit --config demo``.

``read_recipe`` reads what a recipe says about the data and the network without training: the
settings published fastMRI weights need (``reconstruct --checkpoint WEIGHTS --config RECIPE``),
since a state dict records neither its challenge nor its masks.
"""

import inspect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from mri_recon.data.fastmri_format import CHALLENGES

SUFFIX = ".yaml"


def recipe_names() -> list[str]:
    """The names of the bundled recipes, e.g. ``["demo", "unet_knee_singlecoil", ...]``."""
    folder = resources.files("mri_recon") / "configs"
    return sorted(p.name[: -len(SUFFIX)] for p in folder.iterdir() if p.name.endswith(SUFFIX))


def recipe_path(name: str) -> Path:
    """The file of the bundled recipe ``name`` (with or without ``.yaml``).

    Raises:
        FileNotFoundError: no bundled recipe has that name; the message lists them.
    """
    stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name
    path = Path(str(resources.files("mri_recon") / "configs" / f"{stem}{SUFFIX}"))
    if not path.is_file():
        raise FileNotFoundError(
            f"config: {name} is neither a file nor a bundled recipe ({', '.join(recipe_names())})"
        )
    return path


def _recipe_or_path(value: str) -> str:
    """``value`` itself when it is a file or not a bare name (a path, inline YAML), else the
    path of the bundled recipe it names."""
    if Path(value).exists() or not re.fullmatch(r"[\w-]+(\.yaml)?", value):
        return value
    return str(recipe_path(value))


def resolve_config_arguments(args: Sequence[str]) -> list[str]:
    """``args`` with each ``--config NAME`` (or ``--config=NAME``) naming a bundled recipe
    replaced by the recipe's path, so LightningCLI reads it like any config file."""
    resolved: list[str] = []
    follows_config = False
    for arg in args:
        if follows_config:
            arg = _recipe_or_path(arg)
        elif arg.startswith("--config="):
            arg = "--config=" + _recipe_or_path(arg.split("=", 1)[1])
        follows_config = arg == "--config"
        resolved.append(arg)
    return resolved


@dataclass(frozen=True)
class Recipe:
    """What a recipe says about the network and the data.

    Attributes:
        name: the recipe as given (a bundled name or a path), for messages.
        network: the class name of ``model.net`` (``Unet`` when the recipe sets none, as
            ``ReconModule`` builds then).
        net_args: ``model.net.init_args``.
        data: ``challenge``, ``mask_type``, ``center_fractions`` and ``accelerations``, those
            the recipe leaves out at ``FastMriDataModule``'s defaults.
    """

    name: str
    network: str
    net_args: dict[str, Any]
    data: dict[str, Any]


def _section(content: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    """The mapping at the dotted ``path`` of a recipe (empty when absent)."""
    value: Any = content
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            return {}
    if not isinstance(value, dict):
        raise ValueError(f"config {name}: {path} is not a section")
    return value


def read_recipe(value: str) -> Recipe:
    """The network and data settings of a bundled recipe (by name) or a recipe file.

    Raises:
        FileNotFoundError: no such file or bundled recipe (the message lists the recipes).
        ValueError: one line naming the recipe: not YAML, or no ``data.challenge``.
    """
    import yaml

    path = Path(value) if Path(value).is_file() else recipe_path(value)
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"config {value}: not a readable YAML recipe ({reason})") from None
    if not isinstance(content, dict):
        raise ValueError(f"config {value}: not a recipe (a YAML mapping with model and data)")
    net = _section(content, "model.net", value)
    data = _section(content, "data", value)
    if "challenge" not in data:
        raise ValueError(f"config {value}: sets no data.challenge")
    from mri_recon.data.datamodule import FastMriDataModule  # its signature holds the defaults

    defaults = inspect.signature(FastMriDataModule).parameters
    settings = {
        key: data.get(key, defaults[key].default)
        for key in ("challenge", "mask_type", "center_fractions", "accelerations")
    }
    if settings["challenge"] not in CHALLENGES:
        raise ValueError(f"config {value}: data.challenge must be one of {CHALLENGES}")
    try:
        settings["center_fractions"] = [float(f) for f in settings["center_fractions"]]
        settings["accelerations"] = [int(a) for a in settings["accelerations"]]
    except (TypeError, ValueError):
        raise ValueError(
            f"config {value}: data.center_fractions and data.accelerations must be lists of numbers"
        ) from None
    return Recipe(
        name=value,
        network=str(net.get("class_path", "Unet")).rsplit(".", 1)[-1],
        net_args=dict(net.get("init_args") or {}),
        data=settings,
    )
