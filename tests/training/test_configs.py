"""Every shipped config runs ``fit`` (fast_dev_run) on simulated data, shrunk only by overrides."""

from pathlib import Path

import pytest
import torch
import yaml
from torch.optim.lr_scheduler import StepLR

from mri_recon.models import Unet, VarNet
from mri_recon.optim import Adam
from mri_recon.precision import training_precision
from mri_recon.training.cli import cli_main
from tests.helpers import CONFIGS, fit_args, run_cli

CONFIG_DATA = {
    "unet_knee_singlecoil": "small_singlecoil",
    "unet_knee_multicoil": "small_multicoil",
    "unet_brain_multicoil": "small_multicoil",
    "demo": "small_multicoil",
    "varnet_knee_multicoil": "small_multicoil",
    "varnet_brain_multicoil": "small_multicoil",
    "varnet_demo": "small_multicoil",
}


# fastMRI-sized VarNets take about a minute per step on 2 cores: fast_dev_run shrinks them.
SHRINK = {
    name: ("--model.net.init_args.num_cascades", "2", "--model.net.init_args.chans", "4")
    for name in ("varnet_knee_multicoil", "varnet_brain_multicoil")
}


def test_every_config_is_covered():
    assert sorted(CONFIG_DATA) == sorted(p.stem for p in CONFIGS.glob("*.yaml"))


# The demo recipes and one of each fastMRI network in the fast lane; the other fastMRI recipes
# differ from these in their numbers only, so `make test` runs them.
FAST_LANE = ("demo", "varnet_demo", "unet_knee_singlecoil", "varnet_knee_multicoil")


@pytest.mark.precision
@pytest.mark.parametrize(
    "config",
    [c if c in FAST_LANE else pytest.param(c, marks=pytest.mark.slow) for c in sorted(CONFIG_DATA)],
)
def test_fast_dev_run(config: str, tmp_path: Path, request: pytest.FixtureRequest):
    data = request.getfixturevalue(CONFIG_DATA[config])
    overrides = (*SHRINK.get(config, ()), "--trainer.fast_dev_run", "true")
    cli = run_cli(*fit_args(config, data, tmp_path, *overrides))
    metrics = cli.trainer.callback_metrics
    for name in ("train/loss", "val/loss", "val/ssim", "val/psnr", "val/nmse"):
        assert name in metrics and torch.isfinite(metrics[name]), name
    assert 0 < metrics["val/ssim"] <= 1
    assert cli.trainer.global_step == 1
    # A recipe that sets a precision trains in it; the others in the hardware's resolution
    # (bf16-mixed where bf16 is fast, or as MRI_RECON_FAST_BF16 says).
    recipe = yaml.safe_load((CONFIGS / f"{config}.yaml").read_text())
    own = recipe.get("trainer", {}).get("precision")
    assert cli.trainer.precision == (own or training_precision("cpu"))


# fastMRI's recipes: network class, parameters, loss, Adam's learning rate (then StepLR(40, 0.1),
# 50 epochs, batch 1, 4x with 8% centre lines; knee masks random, brain masks equispaced).
FASTMRI_RECIPES = {
    "unet_knee_multicoil": (Unet, 7_756_097, "l1", 1e-3, "random"),
    "unet_brain_multicoil": (Unet, 7_756_097, "l1", 1e-3, "equispaced_fraction"),
    "varnet_knee_multicoil": (VarNet, 29_936_966, "ssim", 3e-4, "random"),
    "varnet_brain_multicoil": (VarNet, 29_936_966, "ssim", 3e-4, "equispaced_fraction"),
}


@pytest.mark.parametrize("config", sorted(FASTMRI_RECIPES))
def test_recipes_follow_fastmri(config: str, tmp_path: Path, small_multicoil: Path):
    """fastMRI's U-Net (32 channels) and VarNet (12 cascades, 18 channels, 8 sensitivity
    channels), our Adam, StepLR(40, 0.1), 50 epochs, batch 1."""
    net_class, parameters, loss, lr, mask_type = FASTMRI_RECIPES[config]
    cli = cli_main(fit_args(config, small_multicoil, tmp_path)[1:], run=False)
    assert isinstance(cli.model.net, net_class) and cli.model.loss_name == loss
    assert sum(p.numel() for p in cli.model.parameters()) == parameters
    optimizers = cli.model.configure_optimizers()
    optimizer, scheduler = optimizers["optimizer"], optimizers["lr_scheduler"]
    assert type(optimizer) is Adam and optimizer.defaults["lr"] == lr
    assert type(scheduler) is StepLR and (scheduler.step_size, scheduler.gamma) == (40, 0.1)
    assert cli.trainer.max_epochs == 50
    data = cli.datamodule.hparams
    assert data.mask_type == mask_type and data.batch_size == 1
    assert list(data.accelerations) == [4] and list(data.center_fractions) == [0.08]
