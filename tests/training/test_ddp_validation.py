"""Validation metrics are the same with one process and with two DDP processes."""

from pathlib import Path

import pytest
import torch

from tests.helpers import fit_args, run_cli


def validate(data: Path, root: Path, *overrides: str) -> dict[str, float]:
    args = fit_args("demo", data, root, "--model.net.init_args.chans", "4", *overrides)
    cli = run_cli("validate", *args[1:])
    return {k: float(v) for k, v in cli.trainer.callback_metrics.items()}


@pytest.mark.slow
def test_two_processes_report_the_single_process_metrics(tmp_path: Path, small_multicoil: Path):
    single = validate(small_multicoil, tmp_path / "one")
    ddp = validate(small_multicoil, tmp_path / "two", "--trainer.strategy", "ddp_spawn",
                   "--trainer.devices", "2")  # fmt: skip
    assert single["val/volumes"] == ddp["val/volumes"] == 2
    for name in ("val/ssim", "val/psnr", "val/nmse"):
        torch.testing.assert_close(ddp[name], single[name], rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_two_process_training_splits_each_epoch(tmp_path: Path, small_multicoil: Path):
    """Under DDP each process trains on its half of the epoch's permutation (18 slices: 9 each)."""
    args = fit_args("demo", small_multicoil, tmp_path, "--model.net.init_args.chans", "4",
                    "--trainer.strategy", "ddp_spawn", "--trainer.devices", "2",
                    "--data.batch_size", "3", "--trainer.max_epochs", "1")  # fmt: skip
    cli = run_cli(*args)
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 3  # ceil(9 / 3) steps per process
    assert torch.isfinite(cli.trainer.callback_metrics["val/ssim"])
