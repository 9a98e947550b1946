"""The bundled training recipes: ``configs/*.yaml``, shipped inside the package.

The top-level ``configs/`` folder of a checkout is the package's ``mri_recon/configs`` (a link in
the source tree, real files in the wheel), so ``--config NAME`` finds a recipe by name from any
folder and any kind of install: ``mri-recon fit --config demo``.
"""

import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

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
