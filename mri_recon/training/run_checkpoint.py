"""The checkpoint callback of ``mri-recon fit``: the best checkpoint by its own score, and a
``last.ckpt`` that is never stale.

Lightning's ``ModelCheckpoint`` given ``every_n_train_steps`` or ``train_time_interval`` saves its
best checkpoints at those steps, named with the score of the last validation (another step's
weights), and no longer after validations; its ``last.ckpt`` can lag the final step. Here those
two options write ``last.ckpt`` only, the best checkpoints are chosen after each validation, and
``last.ckpt`` is also written at ``max_steps`` and at the end of every epoch that no validation
wrote it at. Every ``last.ckpt`` holds the full training state with the sampler's position
(``FastMriDataModule``), so a run resumed from it, even mid-epoch, equals an uninterrupted one.
A ``last.ckpt`` already in the folder is replaced only when it is a checkpoint of mri-recon's:
anything else there stops the run before its first step.
"""

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint


class RunCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose step and time triggers write ``last.ckpt`` only.

    Args:
        every_n_train_steps: write ``last.ckpt`` after every this many optimizer steps.
        train_time_interval: write ``last.ckpt`` after the first optimizer step at least this long
            after the previous write (e.g. ``00:30:00``); under DDP process 0's clock decides.
        kwargs: ``ModelCheckpoint``'s other arguments (``monitor``, ``save_top_k``, ...); its
            best checkpoints are written after validations (``every_n_epochs``, default 1).
    """

    def __init__(
        self,
        every_n_train_steps: int | None = None,
        train_time_interval: timedelta | None = None,
        **kwargs: Any,
    ) -> None:
        if every_n_train_steps is not None and every_n_train_steps < 1:
            raise ValueError(f"every_n_train_steps must be >= 1, got {every_n_train_steps}")
        super().__init__(**kwargs)
        self.last_every_n_train_steps = every_n_train_steps
        self.last_time_interval = train_time_interval
        self.written_at = time.monotonic()
        self.seen_step = -1
        self.last_only_step = -1  # the step of a last.ckpt written alone (no best chosen yet)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Also refuses a ``last.ckpt`` in the folder that is not a checkpoint of mri-recon's."""
        from mri_recon.data.io import check_owned
        from mri_recon.data.marks import CHECKPOINT

        super().setup(trainer, pl_module, stage)
        if stage == "fit" and self.dirpath is not None:
            last = Path(self.dirpath) / f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}"
            check_owned([last], CHECKPOINT, "checkpoint.dirpath")

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self.written_at, self.seen_step = time.monotonic(), trainer.global_step

    def _due(self, trainer: pl.Trainer) -> bool:
        """Whether to write ``last.ckpt`` now: only right after an optimizer step (never in the
        middle of gradient accumulation), when the steps or the time say so, or at the last step."""
        step = trainer.global_step
        if step == self.seen_step:
            return False
        self.seen_step = step
        every = self.last_every_n_train_steps
        if (every and step % every == 0) or 0 < trainer.max_steps <= step:
            return True
        if self.last_time_interval is None:
            return False
        elapsed = time.monotonic() - self.written_at
        return bool(trainer.strategy.broadcast(elapsed >= self.last_time_interval.total_seconds()))

    def _write_last(self, trainer: pl.Trainer) -> None:
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        self.written_at = time.monotonic()
        self.last_only_step = trainer.global_step

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Chooses the best checkpoint after every validation, also one at the step whose
        ``last.ckpt`` was just written (``max_steps`` at an epoch's end), which Lightning would
        skip as already saved."""
        if trainer.global_step == self.last_only_step == self._last_global_step_saved:
            self._last_global_step_saved = -1
        super().on_validation_end(trainer, pl_module)

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if not self._should_skip_saving_checkpoint(trainer) and self._due(trainer):
            self._write_last(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if not self._should_skip_saving_checkpoint(trainer):  # nothing written at this step yet
            self._write_last(trainer)
