"""Image-quality metrics with fastMRI's definitions: NMSE, PSNR and SSIM of a volume.

Each function takes a ground-truth and a predicted volume of shape (slices, height, width) as
NumPy arrays and returns a Python float. The definitions follow ``fastmri.evaluate`` (0.3.0):

- NMSE = ||gt - pred||^2 / ||gt||^2 over the whole volume (accumulated in float64 here).
- PSNR = scikit-image's ``peak_signal_noise_ratio`` over the whole volume, with
  ``data_range = maxval``.
- SSIM = scikit-image's ``structural_similarity`` of each slice (7x7 uniform window,
  ``data_range = maxval``), averaged over the slices.

``maxval`` defaults to ``gt.max()``. fastMRI's validation passes the volume's ``max``
attribute instead; ``fastmri.evaluate`` uses the default on the cropped target.
"""

import math

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

SSIM_WINDOW = 7  # scikit-image's default window side; slices must be at least this large


def _check_pair(gt: np.ndarray, pred: np.ndarray) -> None:
    """Raises ``ValueError`` unless ``gt`` and ``pred`` are volumes of the same shape."""
    if gt.shape != pred.shape:
        raise ValueError(f"gt and pred shapes differ: gt {gt.shape}, pred {pred.shape}")
    if gt.ndim != 3:
        raise ValueError(f"gt must be a volume (slices, height, width), got shape {gt.shape}")
    if gt.size == 0:
        raise ValueError(f"gt is empty, shape {gt.shape}")


def _data_range(gt: np.ndarray, maxval: float | None) -> float:
    """``maxval``, or ``gt.max()`` when it is ``None``; must be a positive finite number."""
    if maxval is None:
        maxval = float(gt.max())
        if not (math.isfinite(maxval) and maxval > 0):
            raise ValueError(f"gt.max() is {maxval}: pass a positive maxval")
        return maxval
    maxval = float(maxval)
    if not (math.isfinite(maxval) and maxval > 0):
        raise ValueError(f"maxval must be a positive finite number, got {maxval}")
    return maxval


def nmse(gt: np.ndarray, pred: np.ndarray) -> float:
    """Normalised mean squared error, ||gt - pred||^2 / ||gt||^2.

    Args:
        gt: ground-truth volume, (slices, height, width).
        pred: predicted volume, same shape as ``gt``.

    Returns:
        The NMSE of the whole volume (0 for a perfect prediction).
    """
    _check_pair(gt, pred)
    gt64 = np.asarray(gt, dtype=np.float64)
    pred64 = np.asarray(pred, dtype=np.float64)
    energy = float(np.sum(gt64**2))
    if energy == 0:
        raise ValueError("gt is all zeros: NMSE is undefined")
    return float(np.sum((gt64 - pred64) ** 2)) / energy


def psnr(gt: np.ndarray, pred: np.ndarray, maxval: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB, 10 log10(maxval^2 / MSE), over the whole volume.

    Args:
        gt: ground-truth volume, (slices, height, width).
        pred: predicted volume, same shape as ``gt``.
        maxval: the peak value (scikit-image's ``data_range``); ``None`` uses ``gt.max()``.

    Returns:
        The PSNR (``inf`` for a perfect prediction).
    """
    _check_pair(gt, pred)
    data_range = _data_range(gt, maxval)
    if np.array_equal(gt, pred):
        return math.inf
    return float(peak_signal_noise_ratio(gt, pred, data_range=data_range))


def ssim(gt: np.ndarray, pred: np.ndarray, maxval: float | None = None) -> float:
    """Structural similarity, computed per slice and averaged over the slices.

    Args:
        gt: ground-truth volume, (slices, height, width); slices at least 7x7.
        pred: predicted volume, same shape as ``gt``.
        maxval: the dynamic range (scikit-image's ``data_range``); ``None`` uses ``gt.max()``.

    Returns:
        The mean SSIM over slices (1 for a perfect prediction).
    """
    _check_pair(gt, pred)
    if min(gt.shape[1:]) < SSIM_WINDOW:
        raise ValueError(
            f"SSIM needs slices of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {gt.shape[1:]}"
        )
    data_range = _data_range(gt, maxval)
    per_slice = [
        structural_similarity(gt_slice, pred_slice, data_range=data_range)
        for gt_slice, pred_slice in zip(gt, pred)
    ]
    return float(np.mean(per_slice))


def volume_metrics(
    gt: np.ndarray, pred: np.ndarray, maxval: float | None = None
) -> dict[str, float]:
    """NMSE, PSNR and SSIM of one volume.

    Args:
        gt: ground-truth volume, (slices, height, width).
        pred: predicted volume, same shape as ``gt``.
        maxval: the peak value for PSNR and SSIM (fastMRI's validation passes the volume's
            ``max`` attribute); ``None`` uses ``gt.max()``.

    Returns:
        ``{"nmse": ..., "psnr": ..., "ssim": ...}`` as Python floats.
    """
    return {
        "nmse": nmse(gt, pred),
        "psnr": psnr(gt, pred, maxval),
        "ssim": ssim(gt, pred, maxval),
    }
