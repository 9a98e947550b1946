"""``mri-recon fit|validate|test``: Lightning's CLI over ``ReconModule`` and ``FastMriDataModule``.

Every default lives in a constructor signature (the modules', the Trainer's, the callbacks');
configs in ``configs/`` set what a recipe changes, and ``--config NAME`` reads a bundled recipe by
name (``mri_recon.recipes``). Three callbacks are part of the parser: the checkpoint callback
(``--checkpoint.*``, ``RunCheckpoint``), preset to keep the best model by ``val/ssim`` (chosen after
validations, so a name carries its own weights' score) and ``last.ckpt`` in
``<default_root_dir>/checkpoints``, written periodically with ``--checkpoint.every_n_train_steps``
or ``--checkpoint.train_time_interval``; the validation images (``--val_images.num_images``); and
the CPU thread count fitted to the machine's load (``--thread_tuning.enabled``,
``--thread_tuning.max_threads``; ``--threads`` in the other commands is torch's thread count).
Three more always run: the non-finite guard, the summary of skipped data and the removal of a
failed run's empty log folder.

Every ``--ckpt_path`` is checked before Lightning reads it (``weights_only``, one-line errors);
``validate`` and ``test`` build the network the checkpoint records. A run that sets no
``--trainer.precision`` (a recipe may set one) gets the fast correct one for its hardware:
``bf16-mixed`` where bf16 is fast, else ``32-true`` (``mri_recon.precision``).
"""

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from jsonargparse import Namespace
from pytorch_lightning.cli import ArgsType, LightningArgumentParser, LightningCLI

from mri_recon.data.datamodule import FastMriDataModule
from mri_recon.models.checkpoint import check_lightning_checkpoint
from mri_recon.models.registry import network_class
from mri_recon.precision import training_precision
from mri_recon.recipes import resolve_config_arguments
from mri_recon.training.callbacks import RemoveEmptyLogs, SkippedDataSummary, ValidationImages
from mri_recon.training.guard import NonFiniteGuard
from mri_recon.training.module import ReconModule
from mri_recon.training.run_checkpoint import RunCheckpoint
from mri_recon.training.thread_tuning import ThreadTuning

CHECKPOINT_DEFAULTS = {
    "checkpoint.monitor": "val/ssim",
    "checkpoint.mode": "max",
    "checkpoint.save_last": True,
    "checkpoint.filename": "epoch{epoch:03d}-ssim{val/ssim:.4f}",
    "checkpoint.auto_insert_metric_name": False,
}
LAST = RunCheckpoint.CHECKPOINT_NAME_LAST + RunCheckpoint.FILE_EXTENSION  # "last.ckpt"


def _same_network(net: Namespace | None, network: str, arguments: dict[str, Any]) -> bool:
    """Whether the parsed ``--model.net`` is the class ``network`` with these arguments."""
    if net is None or "init_args" not in net or net.class_path.rsplit(".", 1)[-1] != network:
        return False
    return all(net.init_args.get(key) == value for key, value in arguments.items())


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
        parser.add_lightning_class_args(RunCheckpoint, "checkpoint")
        parser.set_defaults(CHECKPOINT_DEFAULTS)
        parser.add_lightning_class_args(ValidationImages, "val_images")
        parser.add_lightning_class_args(ThreadTuning, "thread_tuning")

    def parse_arguments(self, parser: LightningArgumentParser, args: ArgsType) -> None:
        """Parses ``args`` (``sys.argv`` when ``None``), reading ``--config NAME`` of a bundled
        recipe as that recipe's file, then checks ``--ckpt_path`` before Lightning reads it."""
        if isinstance(args, dict | Namespace):
            super().parse_arguments(parser, args)
        else:
            self.config = parser.parse_args(
                resolve_config_arguments(sys.argv[1:] if args is None else args)
            )
        subcommand = self.config.get("subcommand")
        if subcommand:
            self.recorded = self._check_ckpt_path(subcommand, self.config[subcommand])

    @staticmethod
    def _checkpoint_dir(config: Namespace) -> str:
        """``--checkpoint.dirpath``, by default ``<default_root_dir>/checkpoints``: one folder per
        run directory, so ``--ckpt_path last`` finds the last checkpoint of the previous run
        (Lightning's default moves to a new logger version)."""
        if config.checkpoint.dirpath is not None:
            return config.checkpoint.dirpath
        return os.path.join(config.trainer.default_root_dir or os.getcwd(), "checkpoints")

    def _check_ckpt_path(self, subcommand: str, config: Namespace) -> dict[str, Any] | None:
        """Checks the checkpoint to resume or evaluate (``last``: the run's ``last.ckpt``) and
        returns its ``mri_recon`` section; ``validate``/``test`` take its recorded network."""
        if config.get("weights_only") is False:
            raise ValueError("weights_only: checkpoints are only ever loaded with weights_only")
        config.weights_only = True
        path = config.get("ckpt_path")
        if path == "last" and Path(self._checkpoint_dir(config), LAST).is_file():
            path = config.ckpt_path = os.path.join(self._checkpoint_dir(config), LAST)
        if not path or path in ("last", "best", "hpc", "registry"):
            return None
        section = check_lightning_checkpoint(path, resume=subcommand == "fit")
        net, recorded = config.model.net, section["net"]
        if subcommand != "fit" and not _same_network(net, section["network"], recorded):
            print(f"mri-recon {subcommand}: using the network {path} records: {recorded}")
            config.model.net = Namespace(
                class_path=f"mri_recon.models.{section['network']}",
                init_args=Namespace(**recorded),
            )
        return section

    def before_instantiate_classes(self) -> None:
        """Sets the checkpoint folder (``_checkpoint_dir``); an unset ``trainer.precision`` becomes
        the hardware's (``training_precision``)."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        config.checkpoint.dirpath = self._checkpoint_dir(config)
        if config.trainer.precision is None:
            config.trainer.precision = training_precision(config.trainer.accelerator)

    def before_fit(self) -> None:
        """Refuses to resume a checkpoint of another network (one line, not Lightning's
        size-mismatch traceback)."""
        recorded = getattr(self, "recorded", None)
        if recorded is None:
            return
        ours = (network_class(self.model.net), self.model.net.config())
        if ours != (recorded["network"], recorded["net"]):
            raise ValueError(
                f"ckpt_path: the checkpoint's network {recorded['network']} {recorded['net']} "
                f"differs from --model.net {ours[0]} {ours[1]}; resume with the run's own config"
            )


def cli_main(args: Sequence[str] | None = None, **kwargs: Any) -> ReconCLI:
    """Runs ``fit``/``validate``/``test`` as given by ``args`` (``sys.argv`` when ``None``).

    torch's deterministic-algorithms setting is given back as it was: Lightning switches it on for
    a ``--trainer.deterministic true`` run and leaves it on, so that later work in the same
    process (another run, which would then not be thread-tuned; inference) ran deterministically.
    """
    always = [NonFiniteGuard(), SkippedDataSummary(), RemoveEmptyLogs()]
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        return ReconCLI(
            ReconModule,
            FastMriDataModule,
            args=list(args) if args is not None else None,
            save_config_kwargs={"overwrite": True},
            parser_kwargs={"prog": "mri-recon"},
            trainer_defaults={"callbacks": always},
            **kwargs,
        )
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
