"""Every shipped config runs ``fit`` (fast_dev_run) on simulated data, shrunk only by overrides."""

from pathlib import Path

import pytest
import torch
from torch.optim.lr_scheduler import StepLR

from mri_recon.models import Unet
from mri_recon.optim import Adam
from mri_recon.precision import training_precision
from mri_recon.training.cli import cli_main
from tests.training.conftest import CONFIGS, fit_args, run_cli

CONFIG_DATA = {
    "unet_knee_singlecoil": "small_singlecoil",
    "unet_knee_multicoil": "small_multicoil",
    "unet_brain_multicoil": "small_multicoil",
    "demo": "small_multicoil",
}


def test_every_config_is_covered():
    assert sorted(CONFIG_DATA) == sorted(p.stem for p in CONFIGS.glob("*.yaml"))


@pytest.mark.parametrize("config", sorted(CONFIG_DATA))
def test_fast_dev_run(config: str, tmp_path: Path, request: pytest.FixtureRequest):
    data = request.getfixturevalue(CONFIG_DATA[config])
    cli = run_cli(*fit_args(config, data, tmp_path, "--trainer.fast_dev_run", "true"))
    metrics = cli.trainer.callback_metrics
    for name in ("train/loss", "val/loss", "val/ssim", "val/psnr", "val/nmse"):
        assert name in metrics and torch.isfinite(metrics[name]), name
    assert 0 < metrics["val/ssim"] <= 1
    assert cli.trainer.global_step == 1
    # No recipe sets a precision: each trains in the hardware's (bf16-mixed where bf16 is fast).
    assert cli.trainer.precision == training_precision("cpu")


@pytest.mark.parametrize(
    ("config", "mask_type"),
    [("unet_knee_multicoil", "random"), ("unet_brain_multicoil", "equispaced_fraction")],
)
def test_recipes_follow_fastmri(config: str, mask_type: str, tmp_path: Path, small_multicoil: Path):
    """fastMRI's U-Net (7,756,097 parameters), our Adam at 1e-3, StepLR(40, 0.1), 50 epochs."""
    cli = cli_main(fit_args(config, small_multicoil, tmp_path)[1:], run=False)
    assert isinstance(cli.model.net, Unet)
    assert sum(p.numel() for p in cli.model.parameters()) == 7_756_097
    optimizers = cli.model.configure_optimizers()
    optimizer, scheduler = optimizers["optimizer"], optimizers["lr_scheduler"]
    assert type(optimizer) is Adam and optimizer.defaults["lr"] == 1e-3
    assert type(scheduler) is StepLR and (scheduler.step_size, scheduler.gamma) == (40, 0.1)
    assert cli.trainer.max_epochs == 50
    data = cli.datamodule.hparams
    assert data.mask_type == mask_type
    assert list(data.accelerations) == [4] and list(data.center_fractions) == [0.08]
