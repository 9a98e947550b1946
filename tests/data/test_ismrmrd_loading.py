"""The loaders read ISMRMRD raw files as the fastMRI files they convert to: detected by content,
converted in memory by the same code as ``python -m data_prep convert``, checked like any file."""

import logging
import os
from pathlib import Path

import fastmri.data
import numpy as np
import pytest

from data_prep.convert import convert_raw_files
from mri_recon.data import SliceDataset
from mri_recon.data.file_check import BadFileError, open_volume, read_volume_info
from mri_recon.data.ismrmrd_memory import cached_conversion
from mri_recon.data.ismrmrd_plan import ConversionOptions
from tests.data.ismrmrd_scans import every_fourth, simulated_kspace, write_scan

LOGGER = "mri_recon.data.slice_dataset"


@pytest.fixture(scope="module")
def raw_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Multicoil raw scans: fully sampled (2 slices), undersampled (2 slices), one slice."""
    folder = tmp_path_factory.mktemp("raw")
    kspace = simulated_kspace()
    write_scan(folder / "full.h5", kspace)
    write_scan(folder / "under.h5", simulated_kspace(index=1), mask=every_fourth())
    write_scan(folder / "single_slice.h5", np.ascontiguousarray(kspace[1:]))
    return folder


@pytest.fixture(scope="module")
def converted_folder(raw_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("converted") / "data"
    convert_raw_files([raw_folder], folder, ConversionOptions(), progress=False)
    return folder


def test_a_raw_file_reads_as_its_converted_file(raw_folder, converted_folder) -> None:
    for name in ("full.h5", "under.h5"):
        raw_metadata, *raw_info = read_volume_info(raw_folder / name, "multicoil")
        metadata, *info = read_volume_info(converted_folder / name, "multicoil")
        assert raw_info == info
        assert raw_metadata == {
            key: value for key, value in metadata.items() if key != "written_by"
        }
    with open_volume(raw_folder / "under.h5") as hf:
        assert hf["kspace"].shape == (2, 4, 64, 40) and hf["mask"].shape == (40,)
        assert hf.attrs["source"] == str((raw_folder / "under.h5").resolve())


def test_slices_of_raw_files_equal_those_of_converted_files(raw_folder, converted_folder) -> None:
    raw, converted = (
        SliceDataset(folder, "multicoil") for folder in (raw_folder, converted_folder)
    )
    assert len(raw) == len(converted) == 5
    for i in range(len(raw)):
        (*raw_arrays, raw_attrs, raw_name, raw_slice) = raw[i]
        (*arrays, attrs, name, slice_num) = converted[i]
        assert (raw_name, raw_slice) == (name, slice_num)
        for raw_array, array in zip(raw_arrays, arrays):
            np.testing.assert_array_equal(raw_array, array)
        assert raw_attrs == {key: value for key, value in attrs.items() if key != "written_by"}


def test_converted_files_load_unchanged_in_fastmri(converted_folder) -> None:
    theirs = fastmri.data.SliceDataset(converted_folder, "multicoil")
    ours = SliceDataset(converted_folder, "multicoil")
    assert len(theirs) == len(ours)
    for their_sample, our_sample in zip(theirs, ours):
        for theirs_item, ours_item in zip(their_sample[:3], our_sample[:3]):
            np.testing.assert_array_equal(theirs_item, ours_item)


def test_a_slice_after_slice_read_converts_once(raw_folder) -> None:
    path = raw_folder / "full.h5"
    with open_volume(path) as first:
        pass
    assert cached_conversion(path) is first
    with open_volume(path) as second:
        assert second is first


def test_an_unsupported_raw_file_is_a_bad_file_named(raw_folder, tmp_path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("full.h5", "under.h5"):
        os.link(raw_folder / name, folder / name)
    write_scan(folder / "epi.h5", simulated_kspace(), edit_line=_reversed)
    with pytest.raises(BadFileError) as caught:
        SliceDataset(folder, "multicoil")
    assert str(caught.value) == (
        f"{folder / 'epi.h5'}: ISMRMRD: EPI (lines read in reverse) not supported: acquisition 0"
    )
    with pytest.warns(UserWarning, match="skipping bad file .*epi.h5: ISMRMRD: EPI"):
        dataset = SliceDataset(folder, "multicoil", skip_bad_files=True)
    assert {sample.fname.name for sample in dataset.raw_samples} == {"full.h5", "under.h5"}


def _reversed(acquisition, _):
    import ismrmrd

    acquisition.set_flag(ismrmrd.ACQ_IS_REVERSE)
    return acquisition


def test_the_index_cache_follows_a_rewritten_raw_file(tmp_path, caplog) -> None:
    path = write_scan(tmp_path / "scan.h5", simulated_kspace())
    with caplog.at_level(logging.INFO, logger=LOGGER):
        SliceDataset(tmp_path, "multicoil", use_dataset_cache=True)
        cached = SliceDataset(tmp_path, "multicoil", use_dataset_cache=True)
        assert "(0 read, 1 cached)" in caplog.records[-1].getMessage()
        assert len(cached) == 2
        other = simulated_kspace(index=2)
        write_scan(path, np.concatenate([other, other[:1]]))  # 3 slices
        rewritten = SliceDataset(tmp_path, "multicoil", use_dataset_cache=True)
        assert "(1 read, 0 cached)" in caplog.records[-1].getMessage()
    assert len(rewritten) == 3
    np.testing.assert_array_equal(rewritten[2][0], other[0])


def test_a_single_coil_raw_scan_reads_as_singlecoil_data(tmp_path) -> None:
    kspace = np.ascontiguousarray(simulated_kspace()[:, :1])
    write_scan(tmp_path / "single.h5", kspace)
    dataset = SliceDataset(tmp_path, "singlecoil")
    slice_kspace, mask, target, attrs, _, _ = dataset[1]
    np.testing.assert_array_equal(slice_kspace, kspace[1, 0])
    assert mask is None and target.shape == (32, 32) and attrs["max"] > 0
    with pytest.raises(BadFileError, match="'kspace' must be 4-D"):
        SliceDataset(tmp_path, "multicoil")
