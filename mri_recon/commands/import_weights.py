"""``mri-recon import-weights``: fastMRI's published weights in, a self-describing checkpoint out.

fastMRI publishes its trained U-Net and VarNet as bare state dicts, which record neither the
architecture nor the data they were trained for. This command reads the architecture from the
tensors (``mri_recon.models.fastmri_architecture``), takes the challenge and masks from a recipe
(``--config``, overridden by ``--challenge`` and the mask options) and writes a checkpoint like
``mri-recon fit``'s without the training state: the ``mri_recon`` section and the weights under
``state_dict`` (``net.`` prefix), plus the Lightning version and a zero epoch and step. It works
wherever a checkpoint does: ``reconstruct`` and ``evaluate --checkpoint`` without ``--config``,
``validate``/``test --ckpt_path`` and ``fit --model.pretrained``. The output is written
atomically and never over a file mri-recon did not write; weights that are not finite are
refused.
"""

import argparse
from pathlib import Path
from typing import Any

from mri_recon.data.fastmri_format import CHALLENGES
from mri_recon.options import CONFIG_HELP, MaskOptions, add_options, from_options


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``import-weights`` and its options."""
    parser = subparsers.add_parser(
        "import-weights",
        help="turn fastMRI's published weights into a self-describing checkpoint",
        description="Read a fastMRI U-Net or VarNet state dict (or fastMRI Lightning checkpoint), "
        "infer its architecture from the tensors, and write an mri-recon checkpoint that records "
        "the network and the recipe's challenge and masks.",
    )
    parser.add_argument("weights", type=Path, metavar="FILE", help="fastMRI weights (.pt, .ckpt)")
    parser.add_argument("--config", metavar="RECIPE", help=CONFIG_HELP)
    parser.add_argument(
        "--output", type=Path, required=True, help="the checkpoint to write (e.g. NEW.ckpt)"
    )
    parser.add_argument("--challenge", choices=CHALLENGES, help="default: the recipe's")
    add_options(parser, MaskOptions)
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing checkpoint of mri-recon's at --output (never another file)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Runs ``import-weights`` and prints what it wrote."""
    path = import_weights(
        args.weights,
        args.output,
        recipe=args.config,
        challenge=args.challenge,
        mask=from_options(MaskOptions, args),
        overwrite=args.overwrite,
    )
    print(f"wrote {path}")
    return 0


def import_weights(
    weights: str | Path,
    output: str | Path,
    recipe: str | None = None,
    challenge: str | None = None,
    mask: MaskOptions | None = None,
    overwrite: bool = False,
) -> Path:
    """Writes fastMRI's ``weights`` as a self-describing checkpoint at ``output``.

    Args:
        weights: a ``fastmri.models.Unet`` or ``VarNet`` state dict file, or a fastMRI
            Lightning checkpoint.
        output: the checkpoint to write.
        recipe: a bundled recipe name or a YAML file: the challenge and masks, and the
            arguments that change no tensor (kernels, the VarNet's ``mask_center``).
        challenge: overrides the recipe's.
        mask: override the recipe's mask settings.
        overwrite: replace a checkpoint of mri-recon's at ``output``.

    Raises:
        ValueError, FileNotFoundError, FileExistsError: one line naming the argument or file.
    """
    from mri_recon.data.io import atomic_path, check_output
    from mri_recon.data.marks import CHECKPOINT

    output = check_output(output, "output", CHECKPOINT, overwrite)
    checkpoint = _checkpoint(Path(weights), recipe, challenge, mask or MaskOptions())
    import torch

    with atomic_path(output, CHECKPOINT, overwrite=overwrite) as tmp:
        torch.save(checkpoint, tmp)
    return output


def _checkpoint(
    weights: Path, recipe: str | None, challenge: str | None, mask: MaskOptions
) -> dict[str, Any]:
    """The checkpoint's contents: the section, the weights, Lightning's version."""
    from importlib.metadata import version

    from mri_recon.models.checkpoint import (
        NET_PREFIX,
        SECTION,
        checkpoint_section,
        load_checkpoint,
        read_checkpoint_file,
    )
    from mri_recon.recipes import read_recipe

    content = read_checkpoint_file(weights)
    if isinstance(content, dict) and SECTION in content:
        raise ValueError(f"checkpoint {weights}: already an mri-recon checkpoint; use it as it is")
    read = read_recipe(recipe) if recipe is not None else None
    loaded = load_checkpoint(weights, read)
    recorded = loaded.data or {}
    settings = mask.resolve(recorded)
    challenge = challenge or recorded.get("challenge")
    if challenge is None or settings is None:
        raise ValueError(
            f"config: {weights} records no challenge or masks; give --config RECIPE (the recipe "
            "the weights were trained with, e.g. varnet_knee_multicoil), or --challenge and "
            "--accelerations"
        )
    for key, tensor in loaded.net.state_dict().items():
        if tensor.is_floating_point() and not tensor.isfinite().all():
            raise ValueError(f"checkpoint {weights}: weight {key} holds NaN or infinite values")
    data = {
        "challenge": challenge,
        "mask_type": settings.mask_type,
        "center_fractions": settings.center_fractions,
        "accelerations": settings.accelerations,
    }
    state = {NET_PREFIX + key: value for key, value in loaded.net.state_dict().items()}
    return {
        "epoch": 0,
        "global_step": 0,
        "pytorch-lightning_version": version("pytorch-lightning"),
        "state_dict": state,
        **checkpoint_section(loaded.net, data),
    }
