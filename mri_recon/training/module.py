"""``ReconModule``: trains and validates an image-domain reconstruction network (the U-Net).

One ``_common_step`` serves training, validation and test. Validation and test un-normalise the
network's output (``* std + mean``), collect slices per volume and report fastMRI's per-volume
NMSE / PSNR / SSIM averaged over volumes (``VolumeMetrics``). Checkpoints carry an ``mri_recon``
section (network and data settings) so that a checkpoint alone is enough to reconstruct.
"""

from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from fastmri.losses import SSIMLoss
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from pytorch_lightning.utilities import rank_zero_warn
from torch import Tensor, nn

from mri_recon.data.transforms import UnetSample
from mri_recon.models import Unet, load_fastmri_state_dict
from mri_recon.optim import Adam
from mri_recon.training.checkpoint import checkpoint_section
from mri_recon.training.volume_metrics import VolumeMetrics

LOSSES = ("l1", "ssim")


class ReconModule(pl.LightningModule):
    """Reconstruction of zero-filled magnitude images with an image-to-image network.

    Args:
        net: the network, (batch, 1, H, W) -> (batch, 1, H, W); ``None`` builds fastMRI's
            U-Net, ``Unet(in_chans=1, out_chans=1)``.
        loss: ``l1`` on normalised images (fastMRI's U-Net loss) or ``ssim`` (1 - SSIM of the
            un-normalised images, data range = the volume's maximum).
        optimizer: builds the optimizer from the parameters; any ``mri_recon.optim`` or
            ``torch.optim`` class (default: this project's ``Adam``, lr 1e-3).
        lr_scheduler: builds a learning-rate scheduler from the optimizer (stepped per epoch),
            e.g. ``StepLR`` or ``CosineAnnealingLR``; ``None`` keeps the rate constant.
        pretrained: a ``fastmri.models.Unet`` state dict file (fastMRI's published U-Net weights
            or a fastMRI Lightning checkpoint) loaded into ``net`` before training; see
            ``mri_recon.models.fastmri_weights`` for the mapping.
    """

    def __init__(
        self,
        net: nn.Module | None = None,
        loss: str = "l1",
        optimizer: OptimizerCallable = Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        pretrained: str | None = None,
    ) -> None:
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        self.save_hyperparameters(ignore=["net", "optimizer", "lr_scheduler"])
        self.net = net if net is not None else Unet(in_chans=1, out_chans=1)
        if pretrained is not None:
            state = torch.load(pretrained, map_location="cpu", weights_only=True)
            load_fastmri_state_dict(self.net, state)
        self.ssim_loss = SSIMLoss() if loss == "ssim" else None
        self.optimizer_factory = optimizer
        self.lr_scheduler_factory = lr_scheduler
        self.metrics = VolumeMetrics()

    def forward(self, image: Tensor) -> Tensor:
        """Reconstructs normalised images, (batch, H, W) -> (batch, H, W)."""
        return self.net(image.unsqueeze(1)).squeeze(1)

    def _loss(self, output: Tensor, batch: UnetSample) -> Tensor:
        if self.ssim_loss is None:
            return F.l1_loss(output, batch.target)
        output, target = batch.unnormalize(output), batch.unnormalize(batch.target)
        max_value = batch.max_value.to(output)  # 0 where the file has no 'max' attribute
        data_range = torch.where(max_value > 0, max_value, target.amax(dim=(-2, -1)))
        return self.ssim_loss(output.unsqueeze(1), target.unsqueeze(1), data_range)

    def _common_step(self, batch: UnetSample, stage: str) -> tuple[Tensor, Tensor]:
        output = self(batch.image).float()
        with torch.autocast(self.device.type, enabled=False):  # loss and metrics in float32
            loss = self._loss(output, batch)
        on_step = stage == "train"
        self.log(
            f"{stage}/loss", loss, on_step=on_step, on_epoch=True, prog_bar=True,
            sync_dist=not on_step, batch_size=output.shape[0],
        )  # fmt: skip
        return loss, output

    def training_step(self, batch: UnetSample, batch_idx: int) -> Tensor:
        return self._common_step(batch, "train")[0]

    def _evaluation_step(self, batch: UnetSample, stage: str) -> dict[str, Tensor] | None:
        """Scores the batch; returns its un-normalised output and target (for callbacks)."""
        if batch.target.dim() < 3:  # files without targets (the test split): nothing to score
            return None
        _, output = self._common_step(batch, stage)
        output, target = batch.unnormalize(output), batch.unnormalize(batch.target)
        self.metrics.update(batch.fname, batch.slice_num, output, target, batch.max_value)
        return {"output": output, "target": target}

    def _evaluation_epoch_end(self, stage: str) -> None:
        results = self.metrics.compute()
        self.metrics.reset()
        if not results:
            rank_zero_warn(
                f"{stage}: no slice had a target, so no metrics were computed (test files hold "
                "none: use `mri-recon reconstruct` and `mri-recon evaluate` against the truth)"
            )
            return
        volumes = results.pop("volumes")
        self.log_dict({f"{stage}/{k}": value for k, value in results.items()}, sync_dist=False)
        self.log(f"{stage}/volumes", volumes, sync_dist=False)

    def on_validation_epoch_start(self) -> None:
        self.metrics.reset()

    def validation_step(self, batch: UnetSample, batch_idx: int) -> dict[str, Tensor] | None:
        return self._evaluation_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._evaluation_epoch_end("val")

    def on_test_epoch_start(self) -> None:
        self.metrics.reset()

    def test_step(self, batch: UnetSample, batch_idx: int) -> dict[str, Tensor] | None:
        return self._evaluation_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._evaluation_epoch_end("test")

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.lr_scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.lr_scheduler_factory(optimizer)}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        checkpoint.update(checkpoint_section(self.net, getattr(datamodule, "hparams", None)))
