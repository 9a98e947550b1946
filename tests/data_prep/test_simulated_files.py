"""Simulated files against fastmri: targets, headers, padding, test masks, noise, loading."""

from dataclasses import replace
from pathlib import Path

import fastmri
import h5py
import numpy as np
import pytest
import torch
from fastmri.data import SliceDataset
from fastmri.data.subsample import RandomMaskFunc
from fastmri.data.transforms import UnetDataTransform, center_crop

from data_prep.config import SimulationConfig
from data_prep.simulate import simulate_dataset, simulate_volume
from data_prep.sources import open_source
from mri_recon.data.masks import create_mask

FOLDERS = ("train", "val", "test", "test_truth")


def files(root: Path, challenge: str, folder: str) -> list[Path]:
    return sorted((root / f"{challenge}_{folder}").glob("*.h5"))


def fastmri_images(kspace: np.ndarray, recon_size: int) -> torch.Tensor:
    """|ifft2c(kspace)| centre-cropped, computed by fastmri."""
    images = fastmri.complex_abs(fastmri.ifft2c(torch.view_as_real(torch.from_numpy(kspace))))
    return center_crop(images, (recon_size, recon_size))


def test_split_folders_and_counts(multicoil_root: Path) -> None:
    counts = {folder: len(files(multicoil_root, "multicoil", folder)) for folder in FOLDERS}
    assert counts == {"train": 1, "val": 1, "test": 2, "test_truth": 2}
    names = [
        p.name
        for folder in ("train", "val", "test")
        for p in files(multicoil_root, "multicoil", folder)
    ]
    assert len(set(names)) == 4


def test_multicoil_targets_are_rss_of_written_kspace(
    multicoil_root: Path, tiny_config: SimulationConfig
) -> None:
    for folder in ("train", "val", "test_truth"):
        for path in files(multicoil_root, "multicoil", folder):
            with h5py.File(path) as hf:
                kspace, target = hf["kspace"][()], hf["reconstruction_rss"][()]
                attrs = dict(hf.attrs)
            assert kspace.dtype == np.complex64 and kspace.shape == (3, 4, 64, 40)
            expected = fastmri.rss(fastmri_images(kspace, 32), dim=1).numpy()
            np.testing.assert_allclose(target, expected, rtol=1e-4, atol=1e-6)
            assert attrs["max"] == pytest.approx(target.max())
            assert attrs["norm"] == pytest.approx(np.linalg.norm(target), rel=1e-5)
            assert attrs["acquisition"] == "CORPD_FBK" and len(attrs["patient_id"]) == 64


def test_singlecoil_targets_are_esc_and_rss_of_written_kspace(singlecoil_root: Path) -> None:
    for folder in ("train", "val", "test_truth"):
        for path in files(singlecoil_root, "singlecoil", folder):
            with h5py.File(path) as hf:
                kspace, esc, rss = (
                    hf[k][()] for k in ("kspace", "reconstruction_esc", "reconstruction_rss")
                )
                assert hf.attrs["max"] == pytest.approx(esc.max())
            assert kspace.shape == (3, 64, 40)
            expected = fastmri_images(kspace, 32).numpy()
            np.testing.assert_allclose(esc, expected, rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(rss, expected, rtol=1e-4, atol=1e-6)


def test_header_parsed_by_fastmri_matches_kspace_and_padding(
    multicoil_root: Path, tmp_path: Path
) -> None:
    dataset = SliceDataset(
        multicoil_root / "multicoil_train", "multicoil", dataset_cache_file=tmp_path / "cache.pkl"
    )
    _, _, metadata = dataset.raw_samples[0]
    assert metadata["encoding_size"] == (64, 40, 1) and metadata["recon_size"] == (32, 32, 1)
    assert (metadata["padding_left"], metadata["padding_right"]) == (3, 37)
    with h5py.File(dataset.raw_samples[0][0]) as hf:
        kspace = hf["kspace"][()]
    column_energy = np.abs(kspace).sum(axis=(0, 1, 2))
    assert (column_energy[:3] == 0).all() and (column_energy[37:] == 0).all()
    assert (column_energy[3:37] > 0).all()


def test_test_files_hold_masked_kspace_and_fastmri_masks(
    multicoil_root: Path, tiny_config: SimulationConfig
) -> None:
    tests = files(multicoil_root, "multicoil", "test")
    for i, path in enumerate(tests):
        with h5py.File(path) as hf:
            kspace, mask, attrs, keys = hf["kspace"][()], hf["mask"][()], dict(hf.attrs), set(hf)
        with h5py.File(multicoil_root / "multicoil_test_truth" / path.name) as hf:
            truth, truth_attrs = hf["kspace"][()], dict(hf.attrs)
            assert "reconstruction_rss" in hf and "mask" not in hf
        assert keys == {"kspace", "mask", "ismrmrd_header"}
        assert mask.dtype == bool and mask.shape == (40,)
        acceleration, fraction = (4, 0.08) if i % 2 == 0 else (8, 0.04)
        assert attrs["acceleration"] == truth_attrs["acceleration"] == acceleration
        assert attrs["patient_id"] == truth_attrs["patient_id"]
        # The mask is fastmri's, seeded by the file name, with the unacquired edges removed.
        expected, num_low = create_mask(tiny_config.test_mask_type, [fraction], [acceleration])(
            (1, 40, 1), seed=tuple(map(ord, path.name))
        )
        expected = expected.reshape(-1).numpy().astype(bool)
        expected[:3] = expected[37:] = False
        np.testing.assert_array_equal(mask, expected)
        assert attrs["num_low_frequency"] == truth_attrs["num_low_frequency"] == num_low
        # Zero exactly where the mask is 0, and equal to the truth where it is 1.
        column_energy = np.abs(kspace).sum(axis=(0, 1, 2))
        np.testing.assert_array_equal(column_energy > 0, mask)
        np.testing.assert_array_equal(kspace, truth * mask)


def test_every_file_loads_in_fastmri_with_unet_transform(
    multicoil_root: Path, singlecoil_root: Path, tmp_path: Path
) -> None:
    mask_func = RandomMaskFunc([0.08], [4])
    for root, challenge in ((multicoil_root, "multicoil"), (singlecoil_root, "singlecoil")):
        for folder in FOLDERS:
            is_test = folder == "test"
            transform = UnetDataTransform(
                challenge, mask_func=None if is_test else mask_func, use_seed=True
            )
            dataset = SliceDataset(
                root / f"{challenge}_{folder}",
                challenge,
                transform=transform,
                dataset_cache_file=tmp_path / "cache.pkl",
            )
            assert len(dataset) == 3 * len(files(root, challenge, folder))
            for sample in dataset:
                assert sample.image.shape == (32, 32) and torch.isfinite(sample.image).all()
                if not is_test:
                    assert sample.target.shape == (32, 32) and sample.max_value > 0


def test_noise_has_the_requested_level(tiny_config: SimulationConfig) -> None:
    source = open_source("phantom")
    for level in (0.0, 0.05):
        config = replace(tiny_config, noise_level=level, pad_lines=0)
        kspace = simulate_volume(config, source, 0, "CORPD_FBK").kspace
        # The readout-oversampled margin (rows far from the 32-row object) holds only noise.
        margin = np.fft.fftshift(
            np.fft.ifft2(np.fft.ifftshift(kspace, axes=(-2, -1)), norm="ortho"), axes=(-2, -1)
        )
        measured = np.sqrt(np.mean(np.abs(margin[..., :8, :]) ** 2))
        assert measured == pytest.approx(level, rel=0.1, abs=2e-3)


def test_simulation_is_deterministic_and_volumes_differ(tiny_config: SimulationConfig) -> None:
    source = open_source("phantom")
    first = simulate_volume(tiny_config, source, 0, "CORPD_FBK")
    again = simulate_volume(tiny_config, source, 0, "CORPD_FBK")
    other = simulate_volume(tiny_config, source, 1, "CORPD_FBK")
    np.testing.assert_array_equal(first.kspace, again.kspace)
    assert first.attrs["patient_id"] == again.attrs["patient_id"] != other.attrs["patient_id"]
    assert not np.allclose(first.targets["reconstruction_rss"], other.targets["reconstruction_rss"])


def test_refuses_existing_output_and_overwrite_removes_stale_files(
    tiny_config: SimulationConfig, tmp_path: Path
) -> None:
    simulate_dataset(tiny_config, tmp_path, progress=False)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.h5")}
    with pytest.raises(FileExistsError, match="multicoil_train"):
        simulate_dataset(tiny_config, tmp_path, progress=False)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.h5")} == before
    smaller = replace(tiny_config, num_volumes=3, test_fraction=0.25, seed=8)
    summary = simulate_dataset(smaller, tmp_path, overwrite=True, progress=False)
    written = {p for paths in summary.files.values() for p in paths}
    assert set(tmp_path.rglob("*.h5")) == written and len(written) == 4
