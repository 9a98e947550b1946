"""Side concerns of training as Lightning callbacks: validation images for the loggers, the
summary of data skipped as bad, and no empty log folder left by a failed run."""

import shutil
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import Logger
from torch import Tensor


def log_images(
    loggers: Iterable[Logger], tag: str, output: Tensor, target: Tensor, step: int
) -> None:
    """Logs one slice's target, reconstruction and absolute error side by side.

    All three share the target's grey scale (``mri_recon.figures``' one windowing rule), so the
    error image is comparable with the images. Loggers without an ``add_image`` (CSV) are
    skipped.

    Args:
        loggers: the trainer's loggers.
        tag: the image's name.
        output: un-normalised reconstruction, (H, W).
        target: un-normalised target, (H, W).
        step: the global step.
    """
    from mri_recon.figures import grey, white_level

    target, output = (x.detach().float().cpu().numpy() for x in (target, output))
    row = np.concatenate([target, output, np.abs(output - target)], axis=-1)
    image = torch.from_numpy(grey(row, white_level(target))).unsqueeze(0)  # (1, H, 3 W) uint8
    for logger in loggers:
        add_image = getattr(getattr(logger, "experiment", None), "add_image", None)
        if add_image is not None:
            add_image(tag, image, global_step=step)


class ValidationImages(pl.Callback):
    """Logs target | reconstruction | error of the first slice of a few validation batches.

    The batches are spread evenly over the validation set and stay the same every epoch, so the
    loggers show the same slices improving. Needs a ``validation_step`` that returns the
    un-normalised ``{"output": ..., "target": ...}`` of its batch, as ``ReconModule``'s does.

    Args:
        num_images: validation batches logged per validation run (0: none).
    """

    def __init__(self, num_images: int = 4) -> None:
        if num_images < 0:
            raise ValueError(f"num_images must be >= 0, got {num_images}")
        self.num_images = num_images
        self.batches: set[int] = set()

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        batches = int(trainer.num_val_batches[0]) if trainer.num_val_batches else 0
        count = min(self.num_images, batches)
        self.batches = {int(i * batches / count) for i in range(count)} if count else set()

    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Mapping[str, Any] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if batch_idx in self.batches and outputs is not None:
            tag = f"val_images/{batch_idx}"
            log_images(
                trainer.loggers,
                tag,
                outputs["output"][0],
                outputs["target"][0],
                trainer.global_step,
            )


class SkippedDataSummary(pl.Callback):
    """Reports, when a run ends, the data left out with ``--data.skip_bad_files``: each bad file
    and each distinct bad slice by name, with its problem (a slice skipped in every epoch, or in
    several DataLoader workers or DDP processes, is named once)."""

    def __init__(self) -> None:
        self.slices: list[str] = []

    @staticmethod
    def _datasets(trainer: pl.Trainer) -> list[Any]:
        return list(getattr(trainer.datamodule, "datasets", {}).values())

    def _collect(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Gathers the skipped slices of every process (every process must call it)."""
        slices = []
        for dataset in self._datasets(trainer):
            flags = dataset.skipped_slices.flags.to(pl_module.device, torch.float32)
            flags = trainer.strategy.reduce(flags, reduce_op="sum")
            slices += [_problem(dataset, *s) for s in dataset.skipped_slices.skipped(flags.cpu())]
        self.slices = list(dict.fromkeys(slices))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._collect(trainer, pl_module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._collect(trainer, pl_module)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._collect(trainer, pl_module)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        files = sorted({f for dataset in self._datasets(trainer) for f in dataset.skipped_files})
        if trainer.is_global_zero and (files or self.slices):
            command = getattr(stage, "value", stage)  # Lightning passes its TrainerFn
            lines = [
                f"mri-recon {command}: skipped {len(files)} bad file(s) and {len(self.slices)} "
                "bad slice(s) (--data.skip_bad_files):",
                *(f"  {problem}" for problem in [*files, *self.slices]),
            ]
            print("\n".join(lines), file=sys.stderr)


def _problem(dataset: Any, file: Path, slice_num: int) -> str:
    """``"<file>: slice <n>: <problem>"`` of a skipped slice, read again to name its problem."""
    from mri_recon.data.file_check import BadFileError

    index = next(
        i for i, s in enumerate(dataset.raw_samples) if (s.fname, s.slice_ind) == (file, slice_num)
    )
    try:
        dataset.load(index)
    except BadFileError as error:
        return str(error)
    return f"{file}: slice {slice_num}"  # readable again now (the file changed during the run)


class RemoveEmptyLogs(pl.Callback):
    """Removes the log folders (``lightning_logs/version_N``) of a run that fails before it has
    logged anything: before its first training step, or any validate or test run. A folder that
    holds files from before this run is kept."""

    def __init__(self) -> None:
        self.started = time.time()

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if not trainer.is_global_zero or (trainer.state.fn == "fit" and trainer.global_step > 0):
            return
        for logger in trainer.loggers:
            folder = Path(logger.log_dir) if getattr(logger, "log_dir", None) else None
            if folder is None or not folder.is_dir():
                continue
            if all(f.stat().st_mtime >= self.started - 1 for f in folder.rglob("*")):
                logger.finalize("failed")  # close its files before they go
                shutil.rmtree(folder, ignore_errors=True)
