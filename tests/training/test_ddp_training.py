"""Two-process DDP training on the CPU, run as a user runs it: the same weights and logged loss
as one process with the two processes' batches together, and a validation split with fewer
volumes than processes."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers import copy_folder, fit_args, run_cli

# Two pooling levels: with four, the 32 x 32 slices reach 2 x 2 feature maps whose instance norms
# blow float rounding up (one process on 1 or 2 threads then differs by 1e-4 after 5 steps); with
# two, 9 steps of one process on 1 and 2 threads agree to 1e-7, and DDP must match to 1e-5.
COMMON = ("--trainer.precision", "32", "--trainer.deterministic", "true",
          "--trainer.max_epochs", "1", "--trainer.logger", "pytorch_lightning.loggers.CSVLogger",
          "--trainer.enable_model_summary", "false")  # fmt: skip
RUN = ("--model.net.init_args.chans", "4", "--model.net.init_args.num_pool_layers", "2", *COMMON)
# The processes' gradients are summed in another order than one process's batch of two, so the
# weights agree to float32 rounding carried through 9 Adam steps, and rounding differs with the
# CPU's kernels (AVX-512 blocks the batch otherwise than AVX2). Adam moves a weight by at most
# about lr (3e-3, the demo recipe's) per step: 1% of the 9 steps' reach bounds the rounding with
# room, while a process training on its own gradients alone would differ by about the reach.
STEPS, LR = 9, 3e-3
WEIGHT_ATOL = 0.01 * STEPS * LR
LOSS_RTOL = 1e-4  # the mean loss of a step moves by far less than its weights do


def assert_same_training(states: list[dict], losses: tuple[float, float]) -> None:
    """One process and two DDP processes took the same steps to the same weights and loss."""
    assert states[0]["global_step"] == states[1]["global_step"] == STEPS  # 18 slices, 2 a step
    for key, value in states[1]["state_dict"].items():
        torch.testing.assert_close(states[0]["state_dict"][key], value, rtol=0, atol=WEIGHT_ATOL)
    assert losses[0] == pytest.approx(losses[1], rel=LOSS_RTOL)  # the mean over both processes


def epoch_losses(root: Path) -> list[float]:
    """The epoch-level ``train/loss`` values the CSV logger wrote."""
    (metrics,) = root.rglob("metrics.csv")
    with open(metrics, newline="") as f:
        return [float(row["train/loss"]) for row in csv.DictReader(f) if row.get("train/loss")]


def ddp_and_single(config: str, run: tuple[str, ...], small_multicoil: Path, tmp_path: Path):
    """Trains ``config`` one epoch with two DDP processes of batch 1 (one validation volume for
    the two) and in one process with batch 2; returns both last checkpoints' states and epoch
    losses."""
    data = tmp_path / "data"
    copy_folder(small_multicoil / "multicoil_train", data / "multicoil_train")
    first_val = sorted((small_multicoil / "multicoil_val").glob("*.h5"))[0]
    copy_folder(first_val.parent, data / "multicoil_val")
    for extra in (data / "multicoil_val").glob("*.h5"):
        if extra.name != first_val.name:
            extra.unlink()  # one validation volume for two processes
    ddp = tmp_path / "ddp"
    args = fit_args(config, data, ddp, *run, "--trainer.logger.save_dir", str(ddp),
                    "--data.batch_size", "1", "--trainer.strategy", "ddp",
                    "--trainer.devices", "2")  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "mri_recon", *args], capture_output=True,
                            text=True, timeout=300, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "sync_dist" not in result.stderr
    single = tmp_path / "single"
    run_cli(*fit_args(config, data, single, *run, "--trainer.logger.save_dir", str(single),
                      "--data.batch_size", "2"))  # fmt: skip
    states = [torch.load(root / "checkpoints" / "last.ckpt", weights_only=True)
              for root in (ddp, single)]  # fmt: skip
    (ddp_loss,), (single_loss,) = epoch_losses(ddp), epoch_losses(single)
    return states, (ddp_loss, single_loss)


@pytest.mark.slow
def test_two_processes_train_like_one_with_both_batches(small_multicoil: Path, tmp_path: Path):
    states, losses = ddp_and_single("demo", RUN, small_multicoil, tmp_path)
    assert_same_training(states, losses)


# A small VarNet (one cascade, two pooling levels) with the recipe's SSIM loss.
VARNET_RUN = ("--model.net.init_args.num_cascades", "1", "--model.net.init_args.chans", "4",
              "--model.net.init_args.pools", "2", "--model.net.init_args.sens_chans", "2",
              "--model.net.init_args.sens_pools", "1", *COMMON)  # fmt: skip


@pytest.mark.slow
def test_the_varnet_trains_with_ddp_like_one_process(small_multicoil: Path, tmp_path: Path):
    states, losses = ddp_and_single("varnet_demo", VARNET_RUN, small_multicoil, tmp_path)
    assert states[0]["mri_recon"]["network"] == states[1]["mri_recon"]["network"] == "VarNet"
    assert_same_training(states, losses)  # the VarNet demo recipe's lr is the U-Net's too
