"""ISMRMRD raw scans, written with the ``ismrmrd`` package from the simulator's k-space, convert
to the k-space they were written from, bit for bit, with the mask of the lines acquired and
fastMRI's target.
"""

from pathlib import Path

import fastmri
import h5py
import ismrmrd
import numpy as np
import pytest
from fastmri.data.transforms import center_crop, to_tensor

from data_prep.physics import rss_target
from mri_recon.data.header import parse_header
from mri_recon.data.ismrmrd import ConvertedVolume, convert
from mri_recon.data.ismrmrd_plan import ConversionOptions
from mri_recon.data.ismrmrd_read import read_lines, read_scan
from tests.data.ismrmrd_scans import SMALL, every_fourth, geometry, simulated_kspace, write_scan

RECON = (SMALL.recon_size, SMALL.recon_size)


def converted(path: Path, **options) -> list[ConvertedVolume]:
    with h5py.File(path, "r") as hf:
        return list(convert(hf, ConversionOptions(**options)))


def only(path: Path, **options) -> ConvertedVolume:
    (volume,) = converted(path, **options)
    return volume


def fastmri_rss(kspace: np.ndarray) -> np.ndarray:
    """fastMRI's ``reconstruction_rss`` of a multicoil volume, from fastmri's own functions."""
    images = fastmri.complex_abs(fastmri.ifft2c(to_tensor(kspace)))
    return center_crop(fastmri.rss(images, dim=1), RECON).numpy()


def assert_bits_equal(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    assert actual.tobytes() == expected.tobytes()


@pytest.fixture(scope="module")
def kspace() -> np.ndarray:
    """The simulator's fully sampled 2-slice, 4-coil k-space: (2, 4, 64, 40), 3 zero lines at
    each edge."""
    return simulated_kspace()


def test_a_fully_sampled_multislice_scan_converts_bit_for_bit(kspace, tmp_path) -> None:
    raw = write_scan(tmp_path / "raw.h5", kspace)
    volume = only(raw)
    assert_bits_equal(volume.kspace, kspace)
    assert volume.mask is None
    np.testing.assert_array_equal(volume.targets["reconstruction_rss"], fastmri_rss(kspace))
    np.testing.assert_allclose(
        volume.targets["reconstruction_rss"], rss_target(kspace, SMALL.recon_size), rtol=1e-5
    )
    with ismrmrd.Dataset(str(raw), mode="r") as dataset:
        assert volume.xml == dataset.read_xml_header()
    expected = [np.concatenate(list(geometry(s).values())) for s in range(2)]
    np.testing.assert_array_equal(volume.geometry, np.float32(expected))
    target = volume.targets["reconstruction_rss"]
    assert volume.attrs == {
        "acquisition": "AXT1_raw",
        "patient_id": "raw-patient-7",
        "ismrmrd_repetition": 0,
        "ismrmrd_contrast": 0,
        "ismrmrd_set": 0,
        "ismrmrd_phase": 0,
        "prewhitened": False,
        "max": float(target.max()),
        "norm": float(np.linalg.norm(target)),
    }


def test_the_header_gives_readers_the_padding_of_the_kspace_placed(kspace, tmp_path) -> None:
    volume = only(write_scan(tmp_path / "raw.h5", kspace))
    metadata = parse_header(volume.xml)
    assert (metadata["padding_left"], metadata["padding_right"]) == (3, 37)
    assert not volume.kspace[..., :3].any() and not volume.kspace[..., 37:].any()


def test_a_single_coil_single_slice_scan_is_singlecoil_data(kspace, tmp_path) -> None:
    single = np.ascontiguousarray(kspace[:1, :1])
    volume = only(write_scan(tmp_path / "raw.h5", single))
    assert_bits_equal(volume.kspace, single[:, 0])
    expected = fastmri_rss(single)
    np.testing.assert_array_equal(volume.targets["reconstruction_esc"], expected)
    np.testing.assert_array_equal(volume.targets["reconstruction_rss"], expected)


def test_an_undersampled_scan_gets_the_mask_of_its_acquired_lines(kspace, tmp_path) -> None:
    mask = every_fourth()
    volume = only(write_scan(tmp_path / "raw.h5", kspace, mask=mask))
    np.testing.assert_array_equal(volume.mask, mask)
    assert_bits_equal(volume.kspace, np.where(mask, kspace, np.complex64(0)))
    assert volume.targets == {} and "max" not in volume.attrs
    assert volume.attrs["acceleration"] == round(34 / mask.sum()) == 3
    assert volume.attrs["num_low_frequency"] == 4


def test_a_simulator_test_mask_is_kept_line_for_line(kspace, tmp_path) -> None:
    from data_prep.simulate import test_mask

    mask, _ = test_mask("scan.h5", 40, SMALL.pad_lines, "random", 0.08, 4)
    volume = only(write_scan(tmp_path / "raw.h5", kspace, mask=mask))
    np.testing.assert_array_equal(volume.mask, mask)
    assert_bits_equal(volume.kspace, np.where(mask, kspace, np.complex64(0)))


def test_noise_scans_are_not_image_data(kspace, tmp_path) -> None:
    noise = np.random.default_rng(1).standard_normal((6, 4, 64)).astype(np.complex64)
    volume = only(write_scan(tmp_path / "raw.h5", kspace, noise=noise))
    assert_bits_equal(volume.kspace, kspace)


def test_prewhitened_coils_have_identity_noise_covariance(tmp_path) -> None:
    """The imaging lines are the noise scans themselves, so after whitening their coil
    covariance is the identity to rounding."""
    rng = np.random.default_rng(2)
    mixing = rng.standard_normal((4, 4)) + 1j * rng.standard_normal((4, 4))
    white = rng.standard_normal((40, 4, 64)) + 1j * rng.standard_normal((40, 4, 64))
    noise = np.einsum("ij,njk->nik", mixing, white).astype(np.complex64)  # correlated coils
    kspace = noise.transpose(1, 2, 0)[None]  # (1, 4, 64, 40): line c is noise scan c
    raw = write_scan(tmp_path / "raw.h5", kspace, pad_lines=0, noise=noise)
    volume = only(raw, prewhiten=True)
    coils = volume.kspace[0].reshape(4, -1).astype(np.complex128)
    np.testing.assert_allclose(coils @ coils.conj().T / coils.shape[1], np.eye(4), atol=1e-5)
    assert volume.attrs["prewhitened"] is True
    covariance = kspace[0].reshape(4, -1) @ kspace[0].reshape(4, -1).conj().T
    assert abs(covariance[0, 1]) > 0.1 * abs(covariance[0, 0])  # they were correlated


def test_merged_calibration_lines_are_imaging_lines(kspace, tmp_path) -> None:
    mask = every_fourth(centre=0)
    raw = write_scan(tmp_path / "raw.h5", kspace, mask=mask, calibration="merged")
    volume = only(raw)
    centre = np.zeros(40, bool)
    centre[16:24] = True
    np.testing.assert_array_equal(volume.mask, mask | centre)
    assert_bits_equal(volume.kspace, np.where(mask | centre, kspace, np.complex64(0)))
    assert volume.attrs["num_low_frequency"] >= 8


def test_separate_calibration_lines_fill_the_centre_only(kspace, tmp_path) -> None:
    mask = every_fourth(centre=0)
    reference = (kspace * 2).astype(np.complex64)  # tells calibration samples from imaging ones
    raw = write_scan(
        tmp_path / "raw.h5", kspace, mask=mask, calibration="separate", reference=reference
    )
    volume = only(raw)
    centre = np.zeros(40, bool)
    centre[16:24] = True
    np.testing.assert_array_equal(volume.mask, mask | centre)
    expected = np.where(mask, kspace, np.where(centre, reference, np.complex64(0)))
    assert_bits_equal(volume.kspace, expected)


def test_two_averages_are_averaged(kspace, tmp_path) -> None:
    noise = 0.01 * np.random.default_rng(3).standard_normal(kspace.shape)
    second = np.where(kspace != 0, kspace + noise, 0).astype(np.complex64)  # the same lines
    volume = only(write_scan(tmp_path / "raw.h5", kspace, averages=[second]))
    mean = ((kspace.astype(np.complex128) + second) / 2).astype(np.complex64)
    assert_bits_equal(volume.kspace, mean)
    np.testing.assert_array_equal(volume.targets["reconstruction_rss"], fastmri_rss(mean))


def test_repetitions_are_chosen_or_written_apart(kspace, tmp_path) -> None:
    later = (kspace * 0.5).astype(np.complex64)
    raw = write_scan(tmp_path / "raw.h5", kspace, repetitions=[later])
    first = only(raw)
    assert_bits_equal(first.kspace, kspace)
    assert first.attrs["ismrmrd_repetition"] == 0 and first.name_suffix == ""
    chosen = only(raw, repetition=1)
    assert_bits_equal(chosen.kspace, later)
    assert chosen.attrs["ismrmrd_repetition"] == 1
    both = converted(raw, separate=("repetition",))
    assert [volume.name_suffix for volume in both] == ["_repetition0", "_repetition1"]
    assert_bits_equal(both[1].kspace, later)


def test_navigator_and_phase_correction_lines_are_skipped(kspace, tmp_path) -> None:
    volume = only(write_scan(tmp_path / "raw.h5", kspace, navigators=True))
    assert_bits_equal(volume.kspace, kspace)


def test_an_asymmetric_echo_leaves_the_unsampled_readout_zero(kspace, tmp_path) -> None:
    """Lines of 48 of the 64 readout points, the echo at sample 16: rows 0-15 stay zero."""

    def encoded_64_rows(header) -> None:
        header.encoding[0].encodedSpace.matrixSize.x = 64

    def echo_at_16(acquisition, _):
        acquisition.center_sample = 16
        return acquisition

    late = np.ascontiguousarray(kspace[:, :, 16:])
    raw = write_scan(tmp_path / "raw.h5", late, edit_header=encoded_64_rows, edit_line=echo_at_16)
    volume = only(raw)
    expected = kspace.copy()
    expected[:, :, :16] = 0
    assert_bits_equal(volume.kspace, expected)
    np.testing.assert_array_equal(volume.targets["reconstruction_rss"], fastmri_rss(expected))


def test_partial_fourier_stated_by_the_encoding_limits_is_padding(kspace, tmp_path) -> None:
    """Columns 10-39 acquired, the centre (20) being line 10: padding (10, 40), fully sampled."""

    def partial_fourier(header) -> None:
        header.encoding[0].encodingLimits.kspace_encoding_step_1.maximum = 29

    mask = np.zeros(40, bool)
    mask[10:] = True
    raw = write_scan(
        tmp_path / "raw.h5", kspace, pad_lines=10, mask=mask, edit_header=partial_fourier
    )
    volume = only(raw)
    metadata = parse_header(volume.xml)
    assert (metadata["padding_left"], metadata["padding_right"]) == (10, 40)
    assert volume.mask is None
    assert_bits_equal(volume.kspace, np.where(mask, kspace, np.complex64(0)))


def test_the_bulk_reader_equals_the_packages_reader(kspace, tmp_path) -> None:
    noise = np.ones((2, 4, 32), np.complex64)
    raw = write_scan(tmp_path / "raw.h5", kspace, noise=noise, navigators=True)
    with h5py.File(raw, "r") as hf:
        scan = read_scan(hf)
        lines = read_lines(hf, np.arange(len(scan.heads))[::-1], scan.heads)[::-1]
    with ismrmrd.Dataset(str(raw), mode="r") as dataset:
        assert dataset.number_of_acquisitions() == len(scan.heads)
        for index, line in enumerate(lines):
            acquisition = dataset.read_acquisition(index)
            assert_bits_equal(line, acquisition.data)
            head = scan.heads[index]
            assert head["flags"] == acquisition.flags
            assert head["idx"]["kspace_encode_step_1"] == acquisition.idx.kspace_encode_step_1
            np.testing.assert_array_equal(head["position"], acquisition.position)
