"""Training through the real CLI: learning, resuming, precision, memory format, optimizers."""

from pathlib import Path

import fastmri.models
import pytest
import torch

from mri_recon.models.checkpoint import load_checkpoint
from mri_recon.optim import Adam
from mri_recon.training.cli import cli_main
from tests.helpers import (
    assert_finite_run,
    assert_identical,
    fit_args,
    last_state,
    run_cli,
    zero_filled_val_ssim,
)

# The demo recipe, shrunk: a small U-Net, one process, no workers.
SMALL = ("--model.net.init_args.chans", "8", "--trainer.deterministic", "true")


@pytest.mark.slow
def test_training_lowers_the_loss_and_beats_zero_filled(tmp_path: Path, small_multicoil: Path):
    first = run_cli(
        *fit_args(
            "demo",
            small_multicoil,
            tmp_path / "one",
            *SMALL,
            "--trainer.max_epochs",
            "1",
            "--trainer.limit_train_batches",
            "1",
        )
    )
    # 16 epochs of 9 batches of 2 slices: enough steps to beat zero-filled on 32 x 32 phantoms.
    cli = run_cli(*fit_args("demo", small_multicoil, tmp_path / "many", *SMALL,
                            "--trainer.max_epochs", "16", "--data.batch_size", "2"))  # fmt: skip
    before, after = first.trainer.callback_metrics, cli.trainer.callback_metrics
    assert after["val/loss"] < before["val/loss"]
    assert after["val/ssim"] > zero_filled_val_ssim(small_multicoil)


@pytest.mark.slow
def test_resume_continues_the_run(tmp_path: Path, small_multicoil: Path):
    """2 epochs straight equal 1 epoch, stop, resume from last.ckpt, 1 more epoch."""
    common = (*SMALL, "--model.net.init_args.chans", "4", "--data.batch_size", "4",
              "--data.num_workers", "2")  # fmt: skip
    run_cli(*fit_args("demo", small_multicoil, tmp_path / "straight", *common,
                      "--trainer.max_epochs", "2"))  # fmt: skip
    split = tmp_path / "split"
    run_cli(*fit_args("demo", small_multicoil, split, *common, "--trainer.max_epochs", "1"))
    resumed = run_cli(*fit_args("demo", small_multicoil, split, *common,
                                "--trainer.max_epochs", "2", "--ckpt_path", "last"))  # fmt: skip
    straight, split_state = last_state(tmp_path / "straight"), last_state(split)
    steps_per_epoch = len(resumed.trainer.train_dataloader)
    assert straight["global_step"] == split_state["global_step"] == 2 * steps_per_epoch
    assert_identical(split_state["state_dict"], straight["state_dict"])
    assert_identical(split_state["optimizer_states"], straight["optimizer_states"])
    assert straight["lr_schedulers"] == split_state["lr_schedulers"]


def test_checkpoint_is_self_describing(tmp_path: Path, small_multicoil: Path):
    cli = run_cli(*fit_args("demo", small_multicoil, tmp_path, *SMALL, "--trainer.max_epochs", "1",
                            "--checkpoint.dirpath", str(tmp_path / "ckpt")))  # fmt: skip
    loaded = load_checkpoint(tmp_path / "ckpt" / "last.ckpt")
    assert loaded.data == {
        "challenge": "multicoil",
        "mask_type": "random",
        "center_fractions": [0.08, 0.04],
        "accelerations": [4, 8],
    }
    assert loaded.net.chans == 8 and not loaded.net.training
    image = torch.randn(2, 1, 32, 32)
    cli.model.net.eval()
    torch.testing.assert_close(loaded.net(image), cli.model.net(image))
    best = [p for p in (tmp_path / "ckpt").iterdir() if p.name != "last.ckpt"]
    assert len(best) == 1 and best[0].name.startswith("epoch000-ssim")


def test_bf16_mixed_and_channels_last_train_without_nan(tmp_path: Path, small_multicoil: Path):
    cli = run_cli(*fit_args("demo", small_multicoil, tmp_path, *SMALL,
                            "--trainer.precision", "bf16-mixed", "--trainer.max_steps", "3",
                            "--trainer.limit_train_batches", "3",  # an epoch, then validation
                            "--model.net.init_args.channels_last", "true",
                            "--trainer.limit_val_batches", "2"))  # fmt: skip
    assert cli.trainer.global_step == 3
    assert_finite_run(cli)
    weight = cli.model.net.down_sample_layers[0].layers[0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize(
    ("optimizer", "scheduler", "expected"),
    [
        ("torch.optim.SGD", "torch.optim.lr_scheduler.CosineAnnealingLR", torch.optim.SGD),
        ("mri_recon.optim.RMSprop", "torch.optim.lr_scheduler.StepLR", "RMSprop"),
    ],
)
def test_optimizer_and_scheduler_come_from_the_command_line(
    optimizer: str, scheduler: str, expected, tmp_path: Path, small_multicoil: Path
):
    schedule = "--model.lr_scheduler.T_max=3" if "Cosine" in scheduler else (
        "--model.lr_scheduler.step_size=1")  # fmt: skip
    cli = run_cli(*fit_args("demo", small_multicoil, tmp_path, *SMALL,
                            "--trainer.fast_dev_run", "true",
                            "--model.optimizer", optimizer, "--model.optimizer.lr", "0.01",
                            "--model.lr_scheduler", scheduler, schedule))  # fmt: skip
    used = cli.trainer.optimizers[0]
    if isinstance(expected, str):
        assert type(used).__module__.startswith("mri_recon.optim")
        assert type(used).__name__ == expected
    else:
        assert type(used) is expected
    assert not isinstance(used, Adam) and used.defaults["lr"] == 0.01
    assert type(cli.trainer.lr_scheduler_configs[0].scheduler).__name__ == scheduler.split(".")[-1]


def test_ssim_loss_trains(tmp_path: Path, small_multicoil: Path):
    cli = run_cli(
        *fit_args(
            "demo", small_multicoil, tmp_path, *SMALL, "--model.loss", "ssim",
            "--trainer.max_steps", "2", "--trainer.limit_val_batches", "1",
        )
    )  # fmt: skip
    loss = cli.trainer.callback_metrics["train/loss"]
    assert torch.isfinite(loss) and 0 < loss < 1  # 1 - SSIM


def test_training_can_start_from_fastmri_weights(tmp_path: Path, small_multicoil: Path):
    reference = fastmri.models.Unet(1, 1, chans=8, num_pool_layers=4)
    weights = tmp_path / "fastmri_unet.pt"
    torch.save(reference.state_dict(), weights)
    cli = cli_main(
        fit_args("demo", small_multicoil, tmp_path, *SMALL, "--model.pretrained", str(weights))[1:],
        run=False,
    )
    image = torch.randn(1, 1, 32, 32)
    torch.testing.assert_close(cli.model.net.eval()(image), reference.eval()(image))


def test_a_deterministic_run_gives_torch_its_setting_back(tmp_path: Path, small_multicoil: Path):
    """Lightning switches deterministic algorithms on for the run; later work in the process
    (another run, which would not be thread-tuned then) gets the setting it had before."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(False)
    try:
        cli = run_cli(*fit_args("demo", small_multicoil, tmp_path, *SMALL,
                                "--trainer.fast_dev_run", "true"))  # fmt: skip
        assert cli.trainer.global_step == 1
        assert not torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(before)
