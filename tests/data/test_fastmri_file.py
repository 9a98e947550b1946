"""A written volume reads back through fastmri's own reader with the header's sizes and padding."""

import h5py
import numpy as np
import pytest
from fastmri.data import SliceDataset as FastmriSliceDataset

from mri_recon.data.fastmri_file import Encoding, write_volume


def test_fastmri_reads_header_and_padding(tmp_path):
    folder = tmp_path / "multicoil_val"
    rng = np.random.default_rng(0)
    kspace = rng.normal(size=(3, 4, 48, 36)) + 1j * rng.normal(size=(3, 4, 48, 36))
    target = rng.random((3, 24, 24))
    encoding = Encoding(encoded=(48, 36), recon=(24, 24), pe_first=3, pe_last=31, num_coils=4)
    attrs = {"acquisition": "AXT1", "max": target.max(), "norm": 1.0, "patient_id": "p0"}
    write_volume(folder / "file1.h5", kspace, encoding, attrs, {"reconstruction_rss": target})

    dataset = FastmriSliceDataset(folder, "multicoil", dataset_cache_file=tmp_path / "cache.pkl")
    metadata = dataset.raw_samples[0].metadata
    assert len(dataset) == 3
    assert metadata["encoding_size"] == (48, 36, 1)
    assert metadata["recon_size"] == (24, 24, 1)
    assert (metadata["padding_left"], metadata["padding_right"]) == (3, 32)
    assert metadata["acquisition"] == "AXT1"
    kspace_read, _, target_read, *_ = dataset[1]
    np.testing.assert_array_equal(kspace_read, kspace[1].astype(np.complex64))
    np.testing.assert_allclose(target_read, target[1].astype(np.float32))
    with h5py.File(folder / "file1.h5", "r") as hf:
        assert hf["kspace"].dtype == np.complex64


def test_test_file_stores_boolean_mask(tmp_path):
    mask = np.zeros(20, dtype=bool)
    mask[::4] = True
    encoding = Encoding(encoded=(40, 20), recon=(16, 16), pe_first=0, pe_last=19)
    path = write_volume(
        tmp_path / "t.h5",
        np.zeros((2, 40, 20), dtype=np.complex64),
        encoding,
        {"acceleration": 4, "num_low_frequency": 2},
        mask=mask,
    )
    with h5py.File(path, "r") as hf:
        np.testing.assert_array_equal(hf["mask"][()], mask)
        assert "reconstruction_esc" not in hf
    with pytest.raises(FileExistsError, match="t.h5"):
        write_volume(path, np.zeros((2, 40, 20)), encoding, {})
