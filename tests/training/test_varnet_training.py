"""The VarNet through the real CLI: fit, self-describing checkpoints, validate, exact resume,
and ``reconstruct`` / ``evaluate --checkpoint`` with nothing but a VarNet checkpoint."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from fastmri.data import SliceDataset
from fastmri.data.subsample import create_mask_for_mask_type
from fastmri.data.transforms import VarNetDataTransform, center_crop

from mri_recon.metrics import volume_metrics
from mri_recon.models import VarNet
from mri_recon.models.checkpoint import load_checkpoint
from tests.helpers import (
    assert_finite_run,
    assert_identical,
    fit_args,
    last_state,
    read_volume,
    run_cli,
    run_main,
    zero_filled_val_ssim,
)

# The VarNet demo recipe, shrunk: 2 cascades of small U-Nets.
TINY = ("--model.net.init_args.num_cascades", "2", "--model.net.init_args.chans", "4",
        "--model.net.init_args.pools", "2", "--model.net.init_args.sens_chans", "4",
        "--model.net.init_args.sens_pools", "2", "--trainer.deterministic", "true")  # fmt: skip


@pytest.fixture(scope="module")
def varnet_run(tmp_path_factory: pytest.TempPathFactory, small_multicoil: Path) -> dict:
    """One epoch of the shrunk ``varnet_demo`` recipe; its CLI and its checkpoint folder."""
    root = tmp_path_factory.mktemp("varnet_fit")
    folder = root / "checkpoints"
    overrides = (*TINY, "--trainer.max_epochs", "1", "--checkpoint.dirpath", str(folder))
    cli = run_cli(*fit_args("varnet_demo", small_multicoil, root, *overrides))
    return {"cli": cli, "checkpoint": folder / "last.ckpt", "root": root}


def test_fit_logs_the_metrics_and_checkpoints_describe_the_varnet(varnet_run: dict):
    cli = varnet_run["cli"]
    metrics = cli.trainer.callback_metrics
    for name in ("train/loss", "val/loss", "val/ssim", "val/psnr", "val/nmse"):
        assert name in metrics and torch.isfinite(metrics[name]), name
    assert cli.model.loss_name == "ssim"
    loaded = load_checkpoint(varnet_run["checkpoint"])
    assert isinstance(loaded.net, VarNet) and loaded.net_name == "VarNet"
    assert loaded.net.config() == cli.model.net.config()
    assert loaded.data["accelerations"] == [4, 8] and not loaded.net.training
    kspace, mask = torch.randn(1, 4, 64, 32, 2), torch.zeros(1, 1, 1, 32, 1, dtype=torch.bool)
    mask[..., 12:20, :] = mask[..., ::3, :] = True
    cli.model.net.eval()
    torch.testing.assert_close(loaded.net(kspace * mask, mask), cli.model.net(kspace * mask, mask))


def test_validate_builds_the_network_the_checkpoint_records(
    varnet_run: dict, small_multicoil: Path, tmp_path: Path, capsys
):
    """The recipe's (larger) VarNet with a checkpoint of the shrunk one: the checkpoint's is
    built, and scores as in fit."""
    args = fit_args(
        "varnet_demo", small_multicoil, tmp_path, "--ckpt_path", str(varnet_run["checkpoint"])
    )
    cli = run_cli("validate", *args[1:])
    assert "using the network" in capsys.readouterr().out
    assert isinstance(cli.model.net, VarNet)
    fit_ssim = varnet_run["cli"].trainer.callback_metrics["val/ssim"]
    torch.testing.assert_close(cli.trainer.callback_metrics["val/ssim"], fit_ssim)


def test_reconstruct_equals_fastmri_transform_and_the_network_by_hand(
    varnet_run: dict, small_multicoil: Path, tmp_path: Path, capsys
):
    data, out = small_multicoil / "multicoil_val", tmp_path / "out"
    args = (
        "--checkpoint",
        varnet_run["checkpoint"],
        "--data-path",
        data,
        "--output-path",
        out,
        "--precision",
        "32",
    )  # the network by hand runs in float32: so must reconstruct's
    code, stdout, _ = run_main(capsys, "reconstruct", *args)
    assert code == 0 and f"wrote 2 reconstructions to {out}" in stdout
    loaded = load_checkpoint(varnet_run["checkpoint"])
    record = loaded.data
    mask_func = create_mask_for_mask_type(
        record["mask_type"], record["center_fractions"], record["accelerations"]
    )
    dataset = SliceDataset(data, "multicoil", transform=VarNetDataTransform(mask_func, True))
    sample = dataset[4]  # second volume, middle slice
    with torch.no_grad():
        output = loaded.net(
            sample.masked_kspace[None], sample.mask[None].bool(), sample.num_low_frequencies
        )
    expected = center_crop(output, sample.crop_size)[0].numpy()
    got = read_volume(out / sample.fname)
    assert got.dtype == np.float32 and got.shape == (3, 32, 32)
    # float32 both ways; reconstruct runs torch's kernels where the checkpoint may hold the
    # scratch ones, so they agree to float32 rounding summed over the network's layers.
    np.testing.assert_allclose(
        got[sample.slice_num], expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max()
    )


def test_evaluate_checkpoint_scores_the_varnet_as_reconstruct_writes_it(
    varnet_run: dict, small_multicoil: Path, tmp_path: Path, capsys
):
    data, out = small_multicoil / "multicoil_val", tmp_path / "out"
    checkpoint = varnet_run["checkpoint"]
    args = ("--checkpoint", checkpoint, "--data-path", data, "--accelerations", "8")
    assert run_main(capsys, "reconstruct", *args, "--output-path", out)[0] == 0
    code, stdout, _ = run_main(
        capsys, "evaluate", *args, "--output", tmp_path / "report.json", "--figures", tmp_path / "f"
    )
    assert code == 0 and re.search(r"8x +VarNet", stdout)
    report = json.loads((tmp_path / "report.json").read_text())
    assert len(report["volumes"]) == 2 and len(list((tmp_path / "f").glob("*.png"))) == 2
    for row in report["volumes"]:
        target = read_volume(data / row["fname"], "reconstruction_rss")
        expected = volume_metrics(target, read_volume(out / row["fname"]))
        assert row["scores"]["VarNet"]["ssim"] == pytest.approx(expected["ssim"], rel=1e-5)


@pytest.mark.slow
def test_resume_continues_the_varnet_run(tmp_path: Path, small_multicoil: Path):
    """2 epochs straight equal 1 epoch, stop, resume from last.ckpt, 1 more epoch."""
    common = (*TINY, "--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "2")
    run_cli(*fit_args("varnet_demo", small_multicoil, tmp_path / "straight", *common,
                      "--trainer.max_epochs", "2"))  # fmt: skip
    split = tmp_path / "split"
    run_cli(*fit_args("varnet_demo", small_multicoil, split, *common, "--trainer.max_epochs", "1"))
    run_cli(*fit_args("varnet_demo", small_multicoil, split, *common,
                      "--trainer.max_epochs", "2", "--ckpt_path", "last"))  # fmt: skip
    straight, split_state = last_state(tmp_path / "straight"), last_state(split)
    assert straight["global_step"] == split_state["global_step"] == 6
    assert_identical(split_state["state_dict"], straight["state_dict"])
    assert_identical(split_state["optimizer_states"], straight["optimizer_states"])


@pytest.mark.slow
def test_bf16_mixed_trains_without_nan(tmp_path: Path, small_multicoil: Path):
    cli = run_cli(*fit_args("varnet_demo", small_multicoil, tmp_path, *TINY,
                            "--trainer.precision", "bf16-mixed", "--trainer.max_epochs", "1",
                            "--trainer.limit_train_batches", "2",
                            "--trainer.limit_val_batches", "2"))  # fmt: skip
    assert cli.trainer.global_step == 2
    assert_finite_run(cli)


@pytest.mark.slow
def test_varnet_training_lowers_the_loss_and_beats_zero_filled(
    tmp_path: Path, small_multicoil: Path
):
    one = (*TINY, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1")
    first = run_cli(*fit_args("varnet_demo", small_multicoil, tmp_path / "one", *one))
    # 10 epochs of 18 slices at lr 3e-3: enough steps to beat zero-filled on 32 x 32 phantoms.
    many = (*TINY, "--trainer.max_epochs", "10", "--model.lr_scheduler.init_args.T_max", "10",
            "--model.optimizer.init_args.lr", "0.003")  # fmt: skip
    cli = run_cli(*fit_args("varnet_demo", small_multicoil, tmp_path / "many", *many))
    before, after = first.trainer.callback_metrics, cli.trainer.callback_metrics
    assert after["val/loss"] < before["val/loss"]
    assert after["val/ssim"] > zero_filled_val_ssim(small_multicoil)
