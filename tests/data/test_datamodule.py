"""FastMriDataModule: batch shapes, train/val/test masks, DDP sampler, checkpoints, errors."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, SequentialSampler

from data_prep.config import SimulationConfig
from data_prep.simulate import simulate_dataset
from mri_recon.data import (
    FastMriDataModule,
    SliceDataset,
    UnetDataTransform,
    VolumeSampler,
    create_mask,
)
from mri_recon.data.epoch_sampler import EpochShuffleSampler


@pytest.fixture
def data_path(tmp_path: Path, write_fastmri_volume) -> Path:
    """A multicoil data folder: train (2 volumes), val (2), test (1, with stored mask)."""
    for split, kind, count in (("train", "train", 2), ("val", "train", 2), ("test", "test", 1)):
        for seed in range(count):
            path = tmp_path / f"multicoil_{split}" / f"{split}{seed}.h5"
            write_fastmri_volume(path, "multicoil", kind=kind, num_slices=2, seed=seed)
    return tmp_path


def make_module(data_path: Path, **options) -> FastMriDataModule:
    return FastMriDataModule(data_path, "multicoil", batch_size=2, num_workers=0, **options)


def images(loader: DataLoader) -> torch.Tensor:
    return torch.cat([batch.image for batch in loader])


def test_batches_have_the_right_shapes(data_path: Path) -> None:
    module = make_module(data_path)
    module.setup("fit")
    batch = next(iter(module.train_dataloader()))
    assert batch.image.shape == batch.target.shape == (2, 16, 16)
    assert batch.mean.shape == batch.std.shape == batch.max_value.shape == (2,)
    assert len(batch.fname) == 2 and batch.slice_num.shape == (2,)
    assert len(module.val_dataloader()) == 2


def test_train_masks_random_val_masks_fixed(data_path: Path) -> None:
    module = make_module(data_path, mask_type="equispaced_fraction")
    module.setup("fit")
    torch.manual_seed(0)
    first, second = images(module.val_dataloader()), images(module.val_dataloader())
    assert torch.equal(first, second)
    raw_val = SliceDataset(data_path / "multicoil_val", "multicoil")
    seeded = UnetDataTransform("multicoil", create_mask("equispaced_fraction", [0.08], [4]))
    assert torch.equal(first[0], seeded(*raw_val[0]).image)
    train = module.datasets["train"]
    train.transform.mask_func.rng.seed(0)
    raw_train = SliceDataset(data_path / "multicoil_train", "multicoil")[0]
    draws = [train.transform(*raw_train).image for _ in range(3)]
    assert not all(torch.equal(draws[0], draw) for draw in draws[1:])


def test_test_loader_uses_the_stored_mask(data_path: Path) -> None:
    module = make_module(data_path)
    module.setup("test")
    batch = next(iter(module.test_dataloader()))
    assert batch.image.shape == (2, 16, 16)
    assert torch.equal(batch.target, torch.zeros(2, 1))
    raw = SliceDataset(data_path / "multicoil_test", "multicoil")
    assert torch.equal(batch.image[0], UnetDataTransform("multicoil")(*raw[0]).image)


def test_test_split_val_reads_val(data_path: Path) -> None:
    module = make_module(data_path, test_split="val")
    batch = next(iter(module.test_dataloader()))
    assert set(batch.fname) == {"val0.h5"}
    module.setup()
    assert sorted(module.datasets) == ["test", "train", "val"]


def test_workers_draw_different_masks(tmp_path: Path, write_fastmri_volume) -> None:
    """Two identical slices read by two workers get different masks, the same ones every time."""
    for split, name in (("train", "a.h5"), ("train", "b.h5"), ("val", "c.h5")):
        path = tmp_path / f"singlecoil_{split}" / name
        write_fastmri_volume(path, "singlecoil", num_slices=1, cols=64, seed=0)
    module = FastMriDataModule(tmp_path, "singlecoil", num_workers=2)
    first = images(module.train_dataloader())
    assert not torch.equal(first[0], first[1])
    assert torch.equal(images(module.train_dataloader()), first)


def test_hyperparameters_are_saved(data_path: Path) -> None:
    module = make_module(data_path, mask_type="magic", center_fractions=(0.08,), accelerations=(8,))
    assert module.hparams.mask_type == "magic"
    assert module.hparams.accelerations == (8,)
    assert module.hparams.challenge == "multicoil" and module.hparams.test_split == "test"


def test_missing_split_folder(tmp_path: Path, write_fastmri_volume) -> None:
    write_fastmri_volume(tmp_path / "multicoil_train" / "t.h5", "multicoil")
    module = make_module(tmp_path)
    with pytest.raises(FileNotFoundError, match=f"split folder {tmp_path / 'multicoil_val'}"):
        module.setup("fit")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"challenge": "dualcoil"}, "challenge must be one of"),
        ({"mask_type": "spiral"}, "mask_type must be one of"),
        ({"center_fractions": (0.08, 0.04)}, "must be non-empty and of equal length"),
        ({"center_fractions": (0.5,), "accelerations": (4,)}, "leaves no room"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"num_workers": -1}, "num_workers must be >= 0"),
        ({"test_split": "train"}, "test_split must be one of"),
        ({"val_sample_rate": 2.0}, r"val_sample_rate must lie in \(0, 1\]"),
        ({"sample_rate": 0.5, "volume_sample_rate": 0.5}, "set one, not both"),
    ],
)
def test_bad_arguments_fail_up_front(tmp_path: Path, options, message) -> None:
    arguments = {"data_path": tmp_path, "challenge": "multicoil", **options}
    with pytest.raises(ValueError, match=message):
        FastMriDataModule(**arguments)


def test_sample_rates_reach_the_datasets(data_path: Path) -> None:
    module = make_module(data_path, val_volume_sample_rate=0.5, sample_rate=0.5)
    module.setup("fit")
    assert len(module.datasets["val"]) == 2 and len(module.datasets["train"]) == 2
    assert len({s.fname for s in module.datasets["val"].raw_samples}) == 1
    assert np.isclose(module.hparams.sample_rate, 0.5)


def test_val_and_test_loaders_use_the_volume_sampler_under_ddp(data_path: Path, tmp_path: Path):
    module = make_module(data_path)
    assert isinstance(module.val_dataloader().sampler, SequentialSampler)
    assert isinstance(module.train_dataloader().sampler, EpochShuffleSampler)
    init_file = tmp_path / "process_group"
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=0, world_size=1)
    try:
        for loader in (module.val_dataloader(), module.test_dataloader()):
            assert isinstance(loader.sampler, VolumeSampler)
            assert list(loader.sampler) == list(range(len(loader.dataset)))
        train = module.train_dataloader().sampler
        assert isinstance(train, EpochShuffleSampler) and train.num_replicas == 1
    finally:
        dist.destroy_process_group()


class TinyModel(pl.LightningModule):
    """One learnable scale on the input image: enough to run Lightning's loops."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return torch.nn.functional.l1_loss(self.scale * batch.image, batch.target)

    def validation_step(self, batch, batch_idx: int) -> None:
        loss = torch.nn.functional.l1_loss(self.scale * batch.image, batch.target)
        self.log("val_loss", loss, batch_size=batch.image.shape[0])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_checkpoint_records_the_data_settings(data_path: Path, tmp_path: Path) -> None:
    module = make_module(data_path, mask_type="equispaced", accelerations=(8,))
    trainer = pl.Trainer(
        default_root_dir=tmp_path / "run",
        max_steps=1,
        limit_val_batches=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(TinyModel(), datamodule=module)
    trainer.save_checkpoint(tmp_path / "last.ckpt")
    checkpoint = torch.load(tmp_path / "last.ckpt", weights_only=True)
    settings = checkpoint["datamodule_hyper_parameters"]
    assert settings["mask_type"] == "equispaced" and settings["accelerations"] == (8,)
    assert settings["challenge"] == "multicoil" and settings["data_path"] == str(data_path)


def test_mixed_image_sizes_with_batches_are_refused_up_front(tmp_path: Path) -> None:
    val = tmp_path / "data" / "singlecoil_val"
    val.mkdir(parents=True)
    for size in (16, 24):
        config = SimulationConfig(source="phantom", challenge="singlecoil", recon_size=size,
                                  num_volumes=2, slices_per_volume=1, val_fraction=0.5,
                                  test_fraction=0.0, seed=size)  # fmt: skip
        simulate_dataset(config, tmp_path / f"sim{size}", progress=False)
        for file in (tmp_path / f"sim{size}" / "singlecoil_val").glob("*.h5"):
            shutil.copy(file, val / f"size{size}.h5")
    module = FastMriDataModule(tmp_path / "data", "singlecoil", batch_size=2, num_workers=0)
    message = (
        r"batch_size: the val split mixes sample sizes 16x16 \(1 file\), 24x24 \(1 file\); use "
        r"--data.batch_size 1"
    )
    with pytest.raises(ValueError, match=message):  # up front, before the first batch
        module.setup("validate")
    module = FastMriDataModule(tmp_path / "data", "singlecoil", batch_size=1, num_workers=0)
    assert [tuple(b.image.shape) for b in module.val_dataloader()] == [(1, 16, 16), (1, 24, 24)]
