"""NaN and inf caught where a slice is read, named by file and slice; skipping them on request."""

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from mri_recon.data import FastMriDataModule, SliceDataset, UnetDataTransform
from mri_recon.data.finite import NonFiniteError, check_finite, is_finite


def poison(path: Path, key: str, index: tuple, value: float = np.nan) -> None:
    """Writes ``value`` at ``index`` of dataset ``key`` of an existing file."""
    with h5py.File(path, "a") as hf:
        data = hf[key][()]
        data[index] = value
        del hf[key]
        hf.create_dataset(key, data=data)


@pytest.mark.parametrize(
    ("kind", "key", "index", "where"),
    [
        ("train", "kspace", (1, 0, 5, 7), "slice 1: 'kspace'"),
        ("train", "reconstruction_rss", (2, 3, 3), "slice 2: 'reconstruction_rss'"),
        ("test", "mask", (4,), "slice 0: 'mask'"),
    ],
)
def test_a_non_finite_slice_is_named_before_any_transform(
    tmp_path: Path, write_fastmri_volume, kind, key, index, where
) -> None:
    path = write_fastmri_volume(tmp_path / "vol.h5", "multicoil", kind=kind)
    if key == "mask":  # a float mask, as some tools store it
        with h5py.File(path, "a") as hf:
            mask = hf["mask"][()].astype(np.float32)
            del hf["mask"]
            hf.create_dataset("mask", data=mask)
    poison(path, key, index, np.inf if key == "kspace" else np.nan)
    calls = []
    dataset = SliceDataset(tmp_path, "multicoil", transform=lambda *args: calls.append(args))
    bad = index[0] if key != "mask" else 0
    with pytest.raises(NonFiniteError) as caught:
        dataset[bad]
    message = str(caught.value)
    assert message == f"{path}: {where} holds NaN or infinite values"
    assert isinstance(caught.value, ValueError) and calls == []


def test_skipping_warns_returns_none_and_records_each_slice_once_in_every_worker(
    tmp_path: Path, write_fastmri_volume
) -> None:
    good = write_fastmri_volume(tmp_path / "a.h5", "singlecoil", num_slices=3)
    bad = write_fastmri_volume(tmp_path / "b.h5", "singlecoil", num_slices=3, seed=1)
    poison(bad, "kspace", (0, 1, 1))
    poison(bad, "kspace", (2, 1, 1))
    dataset = SliceDataset(tmp_path, "singlecoil", skip_bad_files=True)
    with pytest.warns(UserWarning, match=f"skipping bad slice {bad}: slice 0: 'kspace'"):
        assert dataset[3] is None
    assert dataset[0] is not None and dataset.skipped_slices.total() == 1
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=None, num_workers=2, collate_fn=lambda sample: sample
    )
    samples = list(loader) + list(loader)  # two epochs: each bad slice is skipped twice
    assert sum(sample is None for sample in samples) == 4
    assert dataset.skipped_slices.total() == 2  # distinct slices, seen in the workers too
    assert dataset.skipped_slices.skipped() == [(bad, 0), (bad, 2)]
    assert good.name in {sample[4] for sample in samples if sample is not None}


def test_training_replaces_a_skipped_slice_so_batches_stay_full(
    tmp_path: Path, write_fastmri_volume
) -> None:
    for split in ("train", "val"):
        for seed in range(2):
            path = tmp_path / f"singlecoil_{split}" / f"{split}{seed}.h5"
            write_fastmri_volume(path, "singlecoil", num_slices=3, seed=seed)
    poison(tmp_path / "singlecoil_train" / "train1.h5", "kspace", (1, 2, 2))
    module = FastMriDataModule(
        tmp_path, "singlecoil", batch_size=2, num_workers=0, skip_bad_files=True
    )
    with pytest.warns(UserWarning, match="skipping bad slice .*train1.h5: slice 1"):
        batches = list(module.train_dataloader())
    assert [len(batch.fname) for batch in batches] == [2, 2, 2]
    assert ("train1.h5", 1) not in {
        (f, int(s)) for batch in batches for f, s in zip(batch.fname, batch.slice_num)
    }
    assert all(torch.isfinite(batch.image).all() for batch in batches)


def test_without_skipping_the_loader_fails_with_the_slice_named(
    tmp_path: Path, write_fastmri_volume
) -> None:
    path = write_fastmri_volume(tmp_path / "singlecoil_train" / "t.h5", "singlecoil")
    write_fastmri_volume(tmp_path / "singlecoil_val" / "v.h5", "singlecoil")
    poison(path, "reconstruction_esc", (0, 0, 0))
    module = FastMriDataModule(tmp_path, "singlecoil", num_workers=0)
    with pytest.raises(NonFiniteError, match=f"{path}: slice 0: 'reconstruction_esc'"):
        list(module.train_dataloader())


def test_the_check_is_exact_for_huge_finite_values() -> None:
    huge = np.full(1000, 3e38, np.float32)  # the sum overflows, the values do not
    assert is_finite(huge) and is_finite(np.arange(5)) and is_finite(np.ones(3, bool))
    assert not is_finite(np.array([1, np.nan], np.complex64))
    check_finite("f.h5", 0, kspace=huge, mask=None)


def test_transform_output_of_finite_data_stays_finite(tmp_path: Path, write_fastmri_volume):
    write_fastmri_volume(tmp_path / "vol.h5", "multicoil")
    sample = SliceDataset(tmp_path, "multicoil", transform=UnetDataTransform("multicoil"))[0]
    assert torch.isfinite(sample.image).all() and torch.isfinite(sample.target).all()
