"""Side concerns of training as Lightning callbacks: validation images for the loggers."""

from collections.abc import Iterable, Mapping
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import Logger
from torch import Tensor


def log_images(
    loggers: Iterable[Logger], tag: str, output: Tensor, target: Tensor, step: int
) -> None:
    """Logs one slice's target, reconstruction and absolute error side by side.

    All three share one grey scale, [0, target max], so the error image is comparable with the
    images. Loggers without an ``add_image`` (CSV) are skipped.

    Args:
        loggers: the trainer's loggers.
        tag: the image's name.
        output: un-normalised reconstruction, (H, W).
        target: un-normalised target, (H, W).
        step: the global step.
    """
    scale = target.max().clamp_min(1e-12)
    row = torch.cat([target, output, (output - target).abs()], dim=-1) / scale
    image = row.clamp(0, 1).unsqueeze(0).detach().float().cpu()  # (1, H, 3 W)
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
