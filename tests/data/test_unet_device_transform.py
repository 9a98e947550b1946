"""The batch transform on the device equals the CPU transform (checked on the CPU)."""

from pathlib import Path

import pytest
import torch

from mri_recon.data import FastMriDataModule
from mri_recon.data.unet_device_transform import KspaceSample
from mri_recon.data.unet_transform import UnetSample
from tests.helpers import fit_args, run_cli


@pytest.fixture
def data_path(tmp_path: Path, write_fastmri_volume) -> Path:
    """Train and val volumes (targets) and a test volume (stored mask, no target)."""
    for split, kind in (("train", "train"), ("val", "train"), ("test", "test")):
        for seed in range(2):
            path = tmp_path / f"multicoil_{split}" / f"{split}{seed}.h5"
            write_fastmri_volume(path, "multicoil", kind=kind, num_slices=2, seed=seed)
    return tmp_path


def batches(data_path: Path, loader: str, on_device: bool, **options) -> list[UnetSample]:
    module = FastMriDataModule(
        data_path, "multicoil", batch_size=2, num_workers=0, transform_on_device=on_device,
        use_dataset_cache=False, **options,
    )  # fmt: skip
    module.setup(None)
    out = []
    for batch in getattr(module, f"{loader}_dataloader")():
        assert isinstance(batch, KspaceSample if on_device else UnetSample)
        out.append(module.on_after_batch_transfer(batch, 0))
    return out


@pytest.mark.parametrize("loader", ["train", "val", "test"])
@pytest.mark.parametrize("mask_type", ["random", "equispaced_fraction"])
def test_same_batches_as_the_cpu_transform(data_path: Path, loader: str, mask_type: str) -> None:
    cpu = batches(data_path, loader, False, mask_type=mask_type)
    device = batches(data_path, loader, True, mask_type=mask_type)
    assert len(cpu) == len(device) == 2
    for plain, moved in zip(cpu, device):
        assert isinstance(moved, UnetSample)
        assert (moved.fname, moved.slice_num.tolist()) == (plain.fname, plain.slice_num.tolist())
        for name in ("image", "target", "mean", "std", "max_value"):
            mine, reference = getattr(moved, name), getattr(plain, name)
            assert mine.shape == reference.shape and mine.dtype == reference.dtype, name
            torch.testing.assert_close(mine, reference, rtol=1e-5, atol=1e-5, msg=name)


def test_training_with_the_transform_on_the_device(small_multicoil: Path, tmp_path: Path) -> None:
    overrides = ("--data.transform_on_device", "true", "--trainer.fast_dev_run", "true")
    cli = run_cli(
        *fit_args("demo", small_multicoil, tmp_path, "--model.net.init_args.chans", "4", *overrides)
    )
    metrics = cli.trainer.callback_metrics
    assert torch.isfinite(metrics["train/loss"]) and 0 < metrics["val/ssim"] <= 1
