"""A callback that crashes a training run, for the resume tests (importable by class path)."""

import pytorch_lightning as pl


class CrashAt(pl.Callback):
    """Raises ``RuntimeError`` right after optimizer step ``step``, as a crash between
    checkpoints would stop a run."""

    def __init__(self, step: int = 1) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            raise RuntimeError(f"crashed after step {self.step}")
