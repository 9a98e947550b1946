"""``mri-recon fit|validate|test``: Lightning's CLI over ``ReconModule`` and ``FastMriDataModule``.

Every default lives in a constructor signature (the modules', the Trainer's, the callbacks');
configs in ``configs/`` set what a recipe changes, and ``--config NAME`` reads a bundled recipe
by name (``mri_recon.recipes``). Two callbacks are part of the parser: the checkpoint callback
(``--checkpoint.*``), preset to keep the best model by ``val/ssim`` and ``last.ckpt`` in
``<default_root_dir>/checkpoints``, the validation images (``--val_images.num_images``) and the
CPU thread count fitted to the machine's load (``--threads.enabled``, ``--threads.max_threads``).
A run that sets no ``--trainer.precision`` (the bundled recipes set none) gets the fast correct one
for its hardware: ``bf16-mixed`` where bf16 is fast, else ``32-true`` (``mri_recon.precision``).
"""

import os
import sys
from argparse import Namespace
from collections.abc import Sequence
from typing import Any

from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import ArgsType, LightningArgumentParser, LightningCLI

from mri_recon.data.datamodule import FastMriDataModule
from mri_recon.precision import training_precision
from mri_recon.recipes import resolve_config_arguments
from mri_recon.training.callbacks import ValidationImages
from mri_recon.training.module import ReconModule
from mri_recon.training.thread_tuning import ThreadTuning

CHECKPOINT_DEFAULTS = {
    "checkpoint.monitor": "val/ssim",
    "checkpoint.mode": "max",
    "checkpoint.save_last": True,
    "checkpoint.filename": "epoch{epoch:03d}-ssim{val/ssim:.4f}",
    "checkpoint.auto_insert_metric_name": False,
}


class ReconCLI(LightningCLI):
    """LightningCLI with the best-``val/ssim`` checkpoint callback, validation images, thread
    tuning, bundled recipes by name and no ``predict``."""

    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        return {
            name: keys
            for name, keys in LightningCLI.subcommands().items()
            if name in ("fit", "validate", "test")
        }

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(CHECKPOINT_DEFAULTS)
        parser.add_lightning_class_args(ValidationImages, "val_images")
        parser.add_lightning_class_args(ThreadTuning, "threads")

    def parse_arguments(self, parser: LightningArgumentParser, args: ArgsType) -> None:
        """Parses ``args`` (``sys.argv`` when ``None``), reading ``--config NAME`` of a bundled
        recipe as that recipe's file."""
        if isinstance(args, dict | Namespace):
            super().parse_arguments(parser, args)
            return
        self.config = parser.parse_args(
            resolve_config_arguments(sys.argv[1:] if args is None else args)
        )

    def before_instantiate_classes(self) -> None:
        """Checkpoints go to ``<default_root_dir>/checkpoints`` unless ``--checkpoint.dirpath``
        says otherwise: one folder per run directory, so ``--ckpt_path last`` finds the last
        checkpoint of the previous run (Lightning's default moves to a new logger version).
        An unset ``trainer.precision`` becomes the hardware's (``training_precision``)."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        if config.checkpoint.dirpath is None:
            root = config.trainer.default_root_dir or os.getcwd()
            config.checkpoint.dirpath = os.path.join(root, "checkpoints")
        if config.trainer.precision is None:
            config.trainer.precision = training_precision(config.trainer.accelerator)


def cli_main(args: Sequence[str] | None = None, **kwargs: Any) -> ReconCLI:
    """Runs ``fit``/``validate``/``test`` as given by ``args`` (``sys.argv`` when ``None``)."""
    return ReconCLI(
        ReconModule,
        FastMriDataModule,
        args=list(args) if args is not None else None,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"prog": "mri-recon"},
        **kwargs,
    )
