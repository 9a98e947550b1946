"""Stopping a run at the first non-finite loss or score, before it reaches the weights.

Finite data can still drive a network to NaN (a learning rate too high, an overflow under reduced
precision). Without a guard the run goes on to its end, exits 0, and writes a "best" checkpoint
scored ``nan``. ``NonFiniteGuard`` checks the gradients just before each optimizer step (after DDP
has averaged them, so every process decides alike) and names the batches whose loss was not
finite, so the weights never take a non-finite step; it checks validation and test scores before
any checkpoint is chosen from them. ``ReconModule.on_save_checkpoint`` refuses non-finite weights
as a last line, so the last good ``last.ckpt`` is what stays.
"""

import math
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor


class NonFiniteLossError(ValueError):
    """The loss or a score became NaN or infinite; the message names where."""


def describe_batch(batch: Any) -> str:
    """``"a.h5 slice 0, b.h5 slice 3"``: the slices of a batch of ``UnetSample``s."""
    fnames = getattr(batch, "fname", None)
    slices = getattr(batch, "slice_num", None)
    if fnames is None or slices is None:
        return "unknown slices"
    return ", ".join(f"{fname} slice {int(s)}" for fname, s in zip(fnames, slices))


def gradients_finite(module: torch.nn.Module) -> bool:
    """Whether every gradient is finite: one sum per gradient and one device sync per step
    (the decision must come before the optimizer step)."""
    sums = [p.grad.sum() for p in module.parameters() if p.grad is not None]
    if not sums or bool(torch.stack(sums).float().isfinite().all()):
        return True
    grads = (p.grad for p in module.parameters() if p.grad is not None)
    return all(bool(g.isfinite().all()) for g in grads)  # a sum may overflow on finite values


class NonFiniteGuard(pl.Callback):
    """Raises ``NonFiniteLossError`` before an optimizer step on non-finite gradients (naming the
    batches of non-finite loss since the last step) and on non-finite validation or test scores.
    Under a gradient scaler (``16-mixed``), whose skipped steps expect infinite gradients, the
    losses themselves are checked instead."""

    def __init__(self) -> None:
        self.batch: Any = None
        self.pending: list[tuple[Tensor, Any]] = []  # (loss, batch) since the last step

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self.batch = batch

    def on_before_backward(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: Tensor
    ) -> None:
        self.pending.append((loss.detach(), self.batch))  # described only on failure: no sync

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Any
    ) -> None:
        pending, self.pending = self.pending, []
        if getattr(trainer.precision_plugin, "scaler", None) is not None:
            finite = all(bool(torch.isfinite(loss)) for loss, _ in pending)
        else:
            finite = gradients_finite(pl_module)
        if finite:
            return
        bad = [(loss, batch) for loss, batch in pending if not bool(torch.isfinite(loss))]
        where = (
            f"train/loss is {float(bad[0][0])} on {describe_batch(bad[0][1])}"
            if bad
            else f"the gradients are not finite (batches on this process: "
            f"{'; '.join(describe_batch(batch) for _, batch in pending)})"
        )
        raise NonFiniteLossError(
            f"{where} at epoch {trainer.current_epoch}, step {trainer.global_step}: training "
            "stopped before the weights took that step (the last checkpoint written is kept); "
            "lower the learning rate or check these slices"
        )

    @staticmethod
    def _check_scores(trainer: pl.Trainer, stage: str) -> None:
        for name, value in trainer.callback_metrics.items():
            if name.startswith(f"{stage}/") and not math.isfinite(float(value)):
                raise NonFiniteLossError(
                    f"{name} is {float(value)} at epoch {trainer.current_epoch}, step "
                    f"{trainer.global_step}: the network's outputs are not finite, so no "
                    "checkpoint is chosen from this score; run stopped"
                )

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._check_scores(trainer, "val")

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._check_scores(trainer, "test")
