"""NMSE, PSNR and SSIM against fastmri.evaluate's functions and NumPy formulas."""

import math

import numpy as np
import pytest
from fastmri import evaluate as fm_evaluate

from mri_recon.metrics import nmse, psnr, ssim, volume_metrics


def volume_pair(
    seed: int, shape: tuple[int, int, int] = (3, 20, 16), dtype: type = np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """A positive ground-truth volume and a noisy prediction of it."""
    rng = np.random.default_rng(seed)
    gt = rng.uniform(0.0, 2.0, shape)
    pred = gt + 0.1 * rng.standard_normal(shape)
    return gt.astype(dtype), pred.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("maxval", [None, 3.5])
def test_metrics_match_fastmri(dtype: type, maxval: float | None) -> None:
    gt, pred = volume_pair(0, dtype=dtype)
    assert nmse(gt, pred) == pytest.approx(float(fm_evaluate.nmse(gt, pred)), rel=1e-6)
    assert psnr(gt, pred, maxval) == pytest.approx(
        float(fm_evaluate.psnr(gt, pred, maxval)), rel=1e-6
    )
    assert ssim(gt, pred, maxval) == pytest.approx(
        float(fm_evaluate.ssim(gt, pred, maxval)[0]), rel=1e-6
    )


def test_nmse_and_psnr_match_numpy_formulas() -> None:
    gt, pred = volume_pair(1, dtype=np.float64)
    expected_nmse = np.sum((gt - pred) ** 2) / np.sum(gt**2)
    assert nmse(gt, pred) == pytest.approx(expected_nmse, rel=1e-12)
    mse = np.mean((gt - pred) ** 2)
    assert psnr(gt, pred) == pytest.approx(10 * np.log10(gt.max() ** 2 / mse), rel=1e-12)
    assert psnr(gt, pred, 4.0) == pytest.approx(10 * np.log10(16.0 / mse), rel=1e-12)


def test_ssim_is_mean_over_slices() -> None:
    gt, pred = volume_pair(2, shape=(4, 16, 18))
    per_slice = [ssim(gt[i : i + 1], pred[i : i + 1], float(gt.max())) for i in range(4)]
    assert ssim(gt, pred) == pytest.approx(np.mean(per_slice), rel=1e-12)
    worse = gt + 0.5 * np.random.default_rng(3).standard_normal(gt.shape).astype(np.float32)
    assert ssim(gt, worse) < ssim(gt, pred)


def test_perfect_prediction() -> None:
    gt, _ = volume_pair(4)
    assert nmse(gt, gt.copy()) == 0.0
    assert psnr(gt, gt.copy()) == math.inf
    assert ssim(gt, gt.copy()) == pytest.approx(1.0)


def test_volume_metrics_returns_the_three_metrics() -> None:
    gt, pred = volume_pair(5)
    result = volume_metrics(gt, pred, maxval=2.5)
    assert set(result) == {"nmse", "psnr", "ssim"}
    assert all(isinstance(value, float) for value in result.values())
    assert result["nmse"] == nmse(gt, pred)
    assert result["psnr"] == psnr(gt, pred, 2.5)
    assert result["ssim"] == ssim(gt, pred, 2.5)
    assert result["psnr"] != psnr(gt, pred)


@pytest.mark.parametrize("func", [nmse, psnr, ssim, volume_metrics])
def test_shape_mismatch_names_both_shapes(func) -> None:
    gt, pred = volume_pair(6)
    with pytest.raises(ValueError, match=r"gt \(3, 20, 16\), pred \(3, 20, 15\)"):
        func(gt, pred[..., :15])


@pytest.mark.parametrize("func", [nmse, psnr, ssim])
def test_not_a_volume(func) -> None:
    gt, pred = volume_pair(7)
    with pytest.raises(ValueError, match="slices, height, width"):
        func(gt[0], pred[0])


def test_bad_data_range() -> None:
    gt, pred = volume_pair(8)
    with pytest.raises(ValueError, match="maxval must be a positive"):
        psnr(gt, pred, maxval=0.0)
    with pytest.raises(ValueError, match="maxval must be a positive"):
        ssim(gt, pred, maxval=float("nan"))
    zeros = np.zeros_like(gt)
    with pytest.raises(ValueError, match="pass a positive maxval"):
        psnr(zeros, pred)
    with pytest.raises(ValueError, match="all zeros"):
        nmse(zeros, pred)


def test_ssim_needs_slices_of_window_size() -> None:
    gt, pred = volume_pair(9, shape=(2, 6, 20))
    with pytest.raises(ValueError, match="at least 7x7"):
        ssim(gt, pred)
