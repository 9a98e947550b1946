"""SliceDataset against fastmri's on the same real files, plus argument and folder errors."""

import random
from pathlib import Path

import fastmri.data
import numpy as np
import pytest

from mri_recon.data import SliceDataset


def assert_same_value(ours: object, theirs: object) -> None:
    """Equal values of equal type; arrays compared element-wise with their dtypes."""
    assert type(ours) is type(theirs)
    if isinstance(theirs, np.ndarray):
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)
    elif isinstance(theirs, dict):
        assert list(ours) == list(theirs)
        for key in theirs:
            assert_same_value(ours[key], theirs[key])
    else:
        assert ours == theirs


def assert_same_datasets(ours: SliceDataset, theirs: fastmri.data.SliceDataset) -> None:
    assert len(ours) == len(theirs) > 0
    for mine, reference in zip(ours.raw_samples, theirs.raw_samples):
        assert type(mine) is type(reference)
        assert mine.fname == reference.fname
        assert mine.slice_ind == reference.slice_ind
        assert_same_value(mine.metadata, reference.metadata)
    for i in range(len(theirs)):
        mine, reference = ours[i], theirs[i]
        assert len(mine) == len(reference) == 6
        for element, expected in zip(mine, reference):
            assert_same_value(element, expected)


@pytest.mark.parametrize("challenge", ["singlecoil", "multicoil"])
@pytest.mark.parametrize("kind", ["train", "test"])
def test_same_output_as_fastmri(tmp_path: Path, write_fastmri_volume, challenge, kind) -> None:
    write_fastmri_volume(tmp_path / "file_b.h5", challenge, kind, num_slices=2, seed=1)
    write_fastmri_volume(tmp_path / "file_a.h5", challenge, kind, num_slices=3, seed=2)
    ours = SliceDataset(tmp_path, challenge)
    theirs = fastmri.data.SliceDataset(tmp_path, challenge)
    assert_same_datasets(ours, theirs)
    kspace, mask, target, attrs, fname, slice_num = ours[0]
    assert fname == "file_a.h5" and slice_num == 0
    assert (mask is None) == (kind == "train") and (target is None) == (kind == "test")
    assert attrs["padding_left"] == 2 and attrs["padding_right"] == 22
    assert attrs["encoding_size"] == (40, 24, 1) and attrs["recon_size"] == (16, 16, 1)


@pytest.mark.parametrize(
    "options",
    [
        {"sample_rate": 0.5},
        {"volume_sample_rate": 0.5},
        {"num_cols": (24,)},
        {"num_cols": (30,)},
        {"raw_sample_filter": lambda raw_sample: raw_sample.slice_ind != 1},
    ],
)
def test_same_subsets_as_fastmri(tmp_path: Path, write_fastmri_volume, options) -> None:
    for seed, cols in enumerate((24, 30, 24, 30)):
        write_fastmri_volume(tmp_path / f"vol{seed}.h5", "multicoil", cols=cols, seed=seed)
    random.seed(3)
    ours = SliceDataset(tmp_path, "multicoil", **options)
    random.seed(3)
    theirs = fastmri.data.SliceDataset(tmp_path, "multicoil", **options)
    assert 0 < len(ours) < 12
    assert_same_datasets(ours, theirs)


def test_only_visible_h5_files_are_indexed(tmp_path: Path, write_fastmri_volume) -> None:
    write_fastmri_volume(tmp_path / "vol.h5", "singlecoil")
    (tmp_path / "notes.txt").write_text("not data")
    (tmp_path / ".vol.h5.partial.tmp").write_bytes(b"half a file")
    (tmp_path / "sub.h5").mkdir()
    dataset = SliceDataset(tmp_path, "singlecoil")
    assert {raw_sample.fname.name for raw_sample in dataset.raw_samples} == {"vol.h5"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"challenge": "dualcoil"}, "challenge must be one of"),
        ({"sample_rate": 0.5, "volume_sample_rate": 0.5}, "not both"),
        ({"sample_rate": 0.0}, r"sample_rate must lie in \(0, 1\], got 0.0"),
        ({"volume_sample_rate": 1.5}, r"volume_sample_rate must lie in \(0, 1\], got 1.5"),
    ],
)
def test_bad_arguments(tmp_path: Path, write_fastmri_volume, options, message) -> None:
    write_fastmri_volume(tmp_path / "vol.h5", "singlecoil")
    with pytest.raises(ValueError, match=message):
        SliceDataset(tmp_path, **{"challenge": "singlecoil", **options})


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"root: data folder {tmp_path / 'absent'} does not exist"):
        SliceDataset(tmp_path / "absent", "singlecoil")


def test_empty_root(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no volumes here")
    with pytest.raises(ValueError, match=f"root: data folder {tmp_path} holds no .h5 files"):
        SliceDataset(tmp_path, "singlecoil")
