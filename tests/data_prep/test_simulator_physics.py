"""The simulator physics against fastmri (FFTs, crops, targets) and the properties it promises."""

import fastmri
import numpy as np
import pytest
import torch
from fastmri.data.transforms import center_crop

from data_prep import physics


@pytest.mark.parametrize("shape", [(3, 16, 12), (2, 15, 9)])
def test_centred_ffts_match_fastmri(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    as_torch = torch.view_as_real(torch.from_numpy(x))
    expected_k = torch.view_as_complex(fastmri.fft2c(as_torch)).numpy()
    expected_x = torch.view_as_complex(fastmri.ifft2c(as_torch)).numpy()
    np.testing.assert_allclose(physics.fft2c(x), expected_k, atol=1e-5)
    np.testing.assert_allclose(physics.ifft2c(x), expected_x, atol=1e-5)
    np.testing.assert_allclose(physics.ifft2c(physics.fft2c(x)), x, atol=1e-5)


@pytest.mark.parametrize("shape", [(2, 20, 16), (2, 21, 17)])
def test_center_crop_matches_fastmri(shape: tuple[int, ...]) -> None:
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    expected = center_crop(torch.from_numpy(x), (8, 8)).numpy()
    np.testing.assert_array_equal(physics.center_crop(x, 8), expected)


def test_truncated_kspace_keeps_intensity_and_position() -> None:
    # A smooth blob drawn on a fine grid; truncating its spectrum samples it at every other pixel.
    y, x = np.mgrid[:64, :48]
    blob = np.exp(-((y - 30) ** 2 + (x - 22) ** 2) / (2 * 5.0**2)).astype(np.complex64)
    kspace = physics.truncated_kspace(blob[None], (32, 24))
    assert kspace.shape == (1, 32, 24) and kspace.dtype == np.complex64
    coarse = physics.ifft2c(kspace)[0]
    np.testing.assert_allclose(coarse, blob[::2, ::2], atol=1e-3)


def test_grid_centres_the_object_field() -> None:
    y, x = physics.grid(64, 40, 32)
    inside = (np.abs(y) <= 1) & (np.abs(x) <= 1)
    assert inside.sum() == 32 * 32
    rows, cols = np.nonzero(inside)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (16, 47, 4, 35)


def test_coil_maps_are_smooth_complex_and_normalised() -> None:
    y, x = physics.grid(128, 72, 64)
    maps = physics.coil_maps(np.random.default_rng(1), 8, y, x)
    assert maps.shape == (8, 128, 72) and maps.dtype == np.complex64
    inside = (np.abs(y) <= 1) & (np.abs(x) <= 1)
    rss = np.sqrt((np.abs(maps) ** 2).sum(axis=0))
    assert rss[inside].mean() == pytest.approx(1.0, rel=1e-5)
    # Smooth: over the object's field (Hann-windowed against edge leakage), nearly all energy lies
    # in the central eighth of k-space on each axis; white noise would put 1/64 of it there.
    field = maps[:, 32:96, 4:68] * np.outer(np.hanning(64), np.hanning(64))
    spectrum = np.abs(physics.fft2c(field)) ** 2
    centre = spectrum[:, 32 - 4 : 32 + 4, 32 - 4 : 32 + 4].sum(axis=(1, 2))
    assert (centre / spectrum.sum(axis=(1, 2))).min() > 0.99
    # Coils see different parts of the object and carry phase.
    assert np.ptp(np.abs(maps[:, inside]), axis=1).min() > 0.2
    relative_phase = np.angle(maps[:, inside] * np.conj(maps[0, inside]))
    assert np.ptp(relative_phase[1:], axis=1).min() > 0.3


def test_single_coil_has_uniform_sensitivity() -> None:
    y, x = physics.grid(32, 16, 16)
    maps = physics.coil_maps(np.random.default_rng(0), 1, y, x)
    np.testing.assert_array_equal(maps, np.ones((1, 32, 16)))


def test_phase_map_varies_smoothly() -> None:
    y, x = physics.grid(64, 64, 32)
    phase = physics.phase_map(
        physics.random_phase_coefficients(np.random.default_rng(2)), y, x, 0.3
    )
    assert np.ptp(phase) > 0.5
    assert np.abs(np.diff(phase, axis=0)).max() < 0.5 and np.abs(np.diff(phase, axis=1)).max() < 0.5


def test_noise_is_circular_complex_gaussian_of_the_requested_level() -> None:
    kspace = np.zeros((4, 128, 128), dtype=np.complex64)
    noisy = physics.add_noise(kspace, 0.05, np.random.default_rng(3))
    assert noisy.dtype == np.complex64
    assert np.sqrt(np.mean(np.abs(noisy) ** 2)) == pytest.approx(0.05, rel=0.01)
    assert noisy.real.std() == pytest.approx(noisy.imag.std(), rel=0.02)
    assert abs(noisy.mean()) < 1e-3


def test_zero_unacquired_zeros_exactly_the_edge_lines() -> None:
    kspace = np.ones((2, 8, 12), dtype=np.complex64)
    physics.zero_unacquired(kspace, 2, 8)
    acquired = np.abs(kspace).sum(axis=(0, 1)) > 0
    np.testing.assert_array_equal(np.flatnonzero(acquired), np.arange(2, 9))


def test_targets_match_fastmri_definitions() -> None:
    rng = np.random.default_rng(4)
    kspace = (
        rng.standard_normal((2, 3, 24, 18)) + 1j * rng.standard_normal((2, 3, 24, 18))
    ).astype(np.complex64)
    images = fastmri.complex_abs(fastmri.ifft2c(torch.view_as_real(torch.from_numpy(kspace))))
    cropped = center_crop(images, (12, 12))
    np.testing.assert_allclose(
        physics.rss_target(kspace, 12), fastmri.rss(cropped, dim=1), atol=1e-5
    )
    np.testing.assert_allclose(physics.esc_target(kspace[:, 0], 12), cropped[:, 0], atol=1e-5)
