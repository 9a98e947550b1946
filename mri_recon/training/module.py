"""``ReconModule``: trains and validates a reconstruction network, the U-Net or the VarNet.

One ``_common_step`` serves training, validation and test, for either network
(``mri_recon.models.registry``). Validation and test un-normalise the network's output
(``* std + mean`` for the U-Net; the VarNet's is in the data's scale), collect slices per volume
and report fastMRI's per-volume NMSE / PSNR / SSIM averaged over volumes (``VolumeMetrics``).
Epoch losses are means over every slice of every process (``LossMean``). Checkpoints carry an
``mri_recon`` section (network and data settings) so that a checkpoint alone is enough to
reconstruct, and are never written with non-finite weights.
"""

import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from fastmri.data.subsample import MaskFunc
from fastmri.losses import SSIMLoss
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from pytorch_lightning.utilities import rank_zero_info, rank_zero_warn
from torch import Tensor, nn

from mri_recon.data.slice_dataset import SliceDataset
from mri_recon.data.unet_transform import UnetDataTransform, UnetSample
from mri_recon.data.varnet_transform import VarNetDataTransform, VarNetSample
from mri_recon.models import Unet, load_fastmri_state_dict
from mri_recon.models.checkpoint import (
    NET_PREFIX,
    SECTION,
    checkpoint_section,
    net_weights,
    read_checkpoint_file,
)
from mri_recon.models.compiled import Compiled
from mri_recon.models.registry import (
    DEFAULT_LOSSES,
    network_class,
    network_output,
    sample_transform,
    unusable_files,
)
from mri_recon.optim import Adam
from mri_recon.precision import (
    COMPILE_CHOICES,
    MIN_TRAINING_SECONDS_TO_COMPILE,
    TIMED_STEPS,
    compiler_problem,
    inference_pays,
    resolve_compile,
    training_pays,
)
from mri_recon.training.loss_mean import LossMean
from mri_recon.training.volume_metrics import VolumeMetrics

LOSSES = ("l1", "ssim")
Sample = UnetSample | VarNetSample


class ReconModule(pl.LightningModule):
    """Reconstruction of undersampled k-space with a U-Net or a VarNet.

    Args:
        net: ``mri_recon.models.Unet`` (zero-filled images in, (batch, 1, H, W) -> (batch, 1,
            H, W)) or ``mri_recon.models.VarNet`` (masked k-space in); ``None`` builds fastMRI's
            U-Net, ``Unet(in_chans=1, out_chans=1)``. The datamodule makes the samples it takes.
        loss: ``l1`` (on normalised images for the U-Net, fastMRI's U-Net loss; in the data's
            scale for the VarNet) or ``ssim`` (1 - SSIM of the un-normalised, cropped images,
            data range = the volume's maximum: fastMRI's VarNet loss); ``None`` is fastMRI's
            loss for the network: ``l1`` for the U-Net, ``ssim`` for the VarNet.
        optimizer: builds the optimizer from the parameters; any ``mri_recon.optim`` or
            ``torch.optim`` class (default: this project's ``Adam``, lr 1e-3).
        lr_scheduler: builds a learning-rate scheduler from the optimizer (stepped per epoch),
            e.g. ``StepLR`` or ``CosineAnnealingLR``; ``None`` keeps the rate constant.
        pretrained: weights loaded into ``net`` before training: a ``fastmri.models.Unet`` or
            ``VarNet`` state dict file (fastMRI's published weights or a fastMRI Lightning
            checkpoint; see ``mri_recon.models.fastmri_weights`` for the mapping) or a checkpoint
            of this project with the same network. Loaded with ``weights_only=True``.
        compile: run the network through ``torch.compile``: ``on``, ``off``, or ``auto`` (where
            a C++ compiler (or, on a GPU, triton) is found and the run is long enough to win the
            compilation back: training compiles after its first steps when, timed, the steps
            left would take at least 10 minutes eagerly for a U-Net, 5 for a VarNet; validation
            at least 1,000 batches over the run; see ``mri_recon.precision``). A failed
            compilation warns once and runs eagerly; checkpoints hold the eager network's
            weights either way.
    """

    def __init__(
        self,
        net: nn.Module | None = None,
        loss: str | None = None,
        optimizer: OptimizerCallable = Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        pretrained: str | None = None,
        compile: str = "auto",
    ) -> None:
        super().__init__()
        if loss is not None and loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        if compile not in COMPILE_CHOICES:
            raise ValueError(f"compile must be one of {COMPILE_CHOICES}, got {compile!r}")
        self.save_hyperparameters(ignore=["net", "optimizer", "lr_scheduler"])
        self.net = net if net is not None else Unet(in_chans=1, out_chans=1)
        self.loss_name = loss or DEFAULT_LOSSES[network_class(self.net)]
        if pretrained is not None:
            self._load_pretrained(pretrained)
        self.ssim_loss = SSIMLoss() if self.loss_name == "ssim" else None
        # The SSIM window is a constant buffer. Left to DDP, it would be broadcast at every
        # forward, validation's too: a collective that hangs the run when the processes have
        # different numbers of validation batches (volumes are not split between processes).
        self._ddp_params_and_buffers_to_ignore = [
            name for name, _ in self.named_buffers() if name.startswith("ssim_loss.")
        ]
        self.optimizer_factory = optimizer
        self.lr_scheduler_factory = lr_scheduler
        self.metrics = VolumeMetrics()
        self.losses = {"train": LossMean(), "val": LossMean(), "test": LossMean()}
        self.compile_choice = compile
        self.calls: dict[bool, Compiled | None] = {True: None, False: None}  # by self.training
        self.decided: set[bool] = set()
        self.step_seconds: list[float] = []  # training's first steps, timed for ``auto``
        self._step_start = 0.0

    def _load_pretrained(self, path: str) -> None:
        """Loads fastMRI U-Net or VarNet weights, or the network of one of this project's
        checkpoints."""
        state = read_checkpoint_file(path, "pretrained")
        ours = isinstance(state, dict) and SECTION in state
        try:
            load_fastmri_state_dict(self.net, net_weights(state) if ours else state)
        except ValueError as error:
            if not ours:
                raise ValueError(f"pretrained {path}: {error}") from None
            raise ValueError(
                f"pretrained {path}: an mri-recon checkpoint of another network "
                f"({state[SECTION]['net']}); its weights do not fit --model.net ({error}). To "
                f"continue its training use --ckpt_path {path}"
            ) from None

    def sample_transform(
        self, challenge: str, mask_func: MaskFunc | None, use_seed: bool, on_device: bool = False
    ) -> UnetDataTransform | VarNetDataTransform:
        """The transform making the samples the network takes (``FastMriDataModule`` asks; see
        ``mri_recon.models.registry.sample_transform``)."""
        return sample_transform(self.net, challenge, mask_func, use_seed, on_device=on_device)

    def unusable_files(self, dataset: SliceDataset) -> dict[Path, str]:
        """The files whose slices the network cannot take, with why (``FastMriDataModule``
        asks; see ``mri_recon.models.registry.unusable_files``)."""
        return unusable_files(self.net, dataset)

    def forward(self, batch: Sample) -> Tensor:
        """Reconstructs a batch, (batch, H, W) in the scale of ``batch.target``: normalised
        images for the U-Net, the data's scale for the VarNet (compiled where decided)."""
        return network_output(self.net, batch, self.calls[self.training])

    def compile_for(self, training: bool, pays: bool) -> None:
        """Decides, once per run, whether the network runs compiled in training (or evaluation)
        (``mri_recon.precision.resolve_compile``; ``pays``: the run is long enough for
        ``auto``)."""
        if training in self.decided:
            return
        self.decided.add(training)
        purpose = "train" if training else "inference"
        if resolve_compile(self.compile_choice, self.device, pays):
            self.calls[training] = Compiled(self.net, purpose)

    def on_train_start(self) -> None:
        """Decides whether training runs compiled: ``on`` and ``off`` here; ``auto`` after the
        first steps, timed (``on_train_batch_end``; a resumed run's step count is restored by
        then)."""
        if self.compile_choice != "auto":
            self.compile_for(True, pays=False)
            return
        self.step_seconds = []

    def on_train_batch_start(self, batch: Sample, batch_idx: int) -> None:
        self._step_start = time.perf_counter()

    def on_train_batch_end(self, outputs: Any, batch: Sample, batch_idx: int) -> None:
        """Times training's first steps for ``auto``, then decides: compiled when the steps
        left, at the fastest of the timed steps (the first, a warm-up, not counted), would take
        the network's ``MIN_TRAINING_SECONDS_TO_COMPILE`` eagerly or more."""
        if True in self.decided:
            return
        self.step_seconds.append(time.perf_counter() - self._step_start)
        if len(self.step_seconds) <= TIMED_STEPS:
            return
        step = min(self.step_seconds[1:])
        steps_left = self.trainer.estimated_stepping_batches - self.trainer.global_step
        left = float(steps_left) * self.trainer.accumulate_grad_batches  # batches
        network = network_class(self.net)
        # One decision for every process (each timed its own steps).
        pays = self.trainer.strategy.broadcast(training_pays(network, step, left))
        self.compile_for(True, pays)
        why = f"its {left:.0f} steps left would take about {step * left / 60:.1f} min eagerly"
        if not pays:
            why += f", under {MIN_TRAINING_SECONDS_TO_COMPILE[network] / 60:g} for a {network}"
        elif self.calls[True] is None:
            why = compiler_problem(self.device) or why
        compiled = "compiled" if self.calls[True] is not None else "eagerly"
        message = f"compile auto: training runs {compiled} ({why})"
        bar = self.trainer.progress_bar_callback
        if bar is not None and bar.is_enabled:
            bar.print(message)  # a line of its own, not appended to the bar's
        else:
            rank_zero_info(message)

    def on_validation_start(self) -> None:
        """Compiles for the validations left in the run (or this validate run's batches)."""
        if self.trainer.sanity_checking:
            return
        validations = 1
        if self.trainer.state.fn == "fit":
            validations = max((self.trainer.max_epochs or 1) - self.trainer.current_epoch, 1)
        calls = int(sum(self.trainer.num_val_batches)) * validations
        self.compile_for(False, inference_pays(calls))

    def on_test_start(self) -> None:
        self.compile_for(False, inference_pays(int(sum(self.trainer.num_test_batches))))

    def _loss(self, output: Tensor, batch: Sample) -> Tensor:
        if self.ssim_loss is None:
            return F.l1_loss(output, batch.target)
        output, target = batch.unnormalize(output), batch.unnormalize(batch.target)
        max_value = batch.max_value.to(output)  # 0 where the file has no 'max' attribute
        data_range = torch.where(max_value > 0, max_value, target.amax(dim=(-2, -1)))
        return self.ssim_loss(output.unsqueeze(1), target.unsqueeze(1), data_range)

    def _common_step(self, batch: Sample, stage: str) -> tuple[Tensor, Tensor]:
        output = self(batch).float()
        with torch.autocast(self.device.type, enabled=False):  # loss and metrics in float32
            loss = self._loss(output, batch)
        self.losses[stage].update(loss, output.shape[0])
        if stage == "train":
            self.log("train/loss_step", loss, prog_bar=True, batch_size=output.shape[0])
        return loss, output

    def _log_loss(self, stage: str) -> None:
        """Logs the epoch's mean loss over every slice of every process as ``{stage}/loss``."""
        mean = self.losses[stage].compute(self.device)
        self.losses[stage].reset()
        if mean is not None:  # the same on every process: syncing keeps it, and Lightning quiet
            self.log(f"{stage}/loss", mean, prog_bar=True, sync_dist=True)

    def on_train_epoch_start(self) -> None:
        self.losses["train"].reset()

    def training_step(self, batch: Sample, batch_idx: int) -> Tensor:
        return self._common_step(batch, "train")[0]

    def on_train_epoch_end(self) -> None:
        self._log_loss("train")

    def _evaluation_step(self, batch: Sample | None, stage: str) -> dict[str, Tensor] | None:
        """Scores the batch; returns its un-normalised output and target (for callbacks)."""
        if batch is None or batch.target.dim() < 3:  # all skipped, or no targets (test files)
            return None
        _, output = self._common_step(batch, stage)
        output, target = batch.unnormalize(output), batch.unnormalize(batch.target)
        self.metrics.update(batch.fname, batch.slice_num, output, target, batch.max_value)
        return {"output": output, "target": target}

    def _evaluation_epoch_end(self, stage: str) -> None:
        self._log_loss(stage)
        results = self.metrics.compute()
        self.metrics.reset()
        if not results:
            rank_zero_warn(
                f"{stage}: no slice had a target, so no metrics were computed (test files hold "
                "none: use `mri-recon reconstruct` and `mri-recon evaluate` against the truth)"
            )
            return
        volumes = results.pop("volumes")  # the same on every process (all gathered), as above
        self.log_dict({f"{stage}/{k}": value for k, value in results.items()}, sync_dist=True)
        self.log(f"{stage}/volumes", volumes, sync_dist=True)

    def on_validation_epoch_start(self) -> None:
        self.metrics.reset()
        self.losses["val"].reset()

    def validation_step(self, batch: Sample, batch_idx: int) -> dict[str, Tensor] | None:
        return self._evaluation_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._evaluation_epoch_end("val")

    def on_test_epoch_start(self) -> None:
        self.metrics.reset()
        self.losses["test"].reset()

    def test_step(self, batch: Sample, batch_idx: int) -> dict[str, Tensor] | None:
        return self._evaluation_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._evaluation_epoch_end("test")

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.lr_scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.lr_scheduler_factory(optimizer)}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """The SSIM loss's window is a constant of the loss, not a weight: a checkpoint written
        with the other loss, or by ``mri-recon import-weights`` (weights only), loads with this
        module's."""
        state = checkpoint["state_dict"]
        for key in [key for key in state if key.startswith("ssim_loss.")]:
            del state[key]
        if self.ssim_loss is not None:
            state.update({f"ssim_loss.{k}": v for k, v in self.ssim_loss.state_dict().items()})

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Adds the ``mri_recon`` section; refuses to write weights that are not finite."""
        for key, value in checkpoint["state_dict"].items():
            weight = key.startswith(NET_PREFIX) and value.is_floating_point()
            if weight and not value.isfinite().all():
                raise ValueError(
                    f"checkpoint not written: weight {key} holds NaN or infinite values (step "
                    f"{self.trainer.global_step}); the last good checkpoint is kept"
                )
        datamodule = getattr(self.trainer, "datamodule", None)
        checkpoint.update(checkpoint_section(self.net, getattr(datamodule, "hparams", None)))
