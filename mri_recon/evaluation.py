"""Evaluation of a folder of reconstructions against a folder of fastMRI targets.

``evaluate_folders`` computes NMSE, PSNR and SSIM per volume with fastMRI's definitions and
crop, recording the volumes it cannot evaluate (missing, unreadable, mis-shaped, or holding NaN or
infinite values) as the report's failures instead of stopping at the first: they never enter a
mean.
"""

from pathlib import Path

import h5py
import numpy as np

from mri_recon.data.fastmri_format import (
    ESC_KEY,
    RECONSTRUCTION_KEY,
    RSS_KEY,
    check_challenge,
    target_key,
)
from mri_recon.data.finite import is_finite
from mri_recon.data.folder import list_volume_files
from mri_recon.metrics import volume_metrics
from mri_recon.report import Report, VolumeScores

UNKNOWN_ACQUISITION = "unknown"
PREDICTION = "prediction"  # the one method of a folder evaluation


class VolumeProblem(Exception):
    """A volume that cannot be evaluated; its message goes into the report's ``problems``."""


def square_crop(volume: np.ndarray, side: int) -> np.ndarray:
    """Centre crop of the last two axes to ``side`` x ``side``, as ``fastmri.evaluate`` does.

    The window starts at ``(n - side) // 2`` on each axis, the index arithmetic of
    ``fastmri.data.transforms.center_crop``, so the crop matches fastmri's element for element.

    Args:
        volume: array of shape (..., height, width) with height and width at least ``side``.
        side: the side of the square window.

    Returns:
        A view of shape (..., side, side).
    """
    height, width = volume.shape[-2:]
    if not 0 < side <= min(height, width):
        raise ValueError(f"cannot crop {height}x{width} to {side}x{side}")
    top = (height - side) // 2
    left = (width - side) // 2
    return volume[..., top : top + side, left : left + side]


def acquisition_of(attrs: h5py.AttributeManager) -> str:
    """A file's ``acquisition`` attribute as text (``unknown`` when absent)."""
    value = attrs.get("acquisition", UNKNOWN_ACQUISITION)
    return value.decode() if isinstance(value, bytes) else str(value)


def _target_key(target: h5py.File, challenge: str | None) -> str:
    """The target dataset's key: fixed by ``challenge``, or inferred from the file's keys.

    fastMRI singlecoil files hold both ``reconstruction_esc`` and ``reconstruction_rss``,
    multicoil files only the RSS, so an ESC dataset means singlecoil.
    """
    if challenge is not None:
        key = target_key(challenge)
        if key not in target:
            raise VolumeProblem(f"no {key!r} dataset ({challenge} target)")
        return key
    for key in (ESC_KEY, RSS_KEY):
        if key in target:
            return key
    raise VolumeProblem(f"neither {ESC_KEY!r} nor {RSS_KEY!r} in the file")


def _read_prediction(path: Path) -> np.ndarray:
    if not path.is_file():
        raise VolumeProblem(f"no prediction file {path}")
    try:
        with h5py.File(path, "r") as recons:
            if RECONSTRUCTION_KEY not in recons:
                raise VolumeProblem(f"no {RECONSTRUCTION_KEY!r} dataset in {path}")
            return recons[RECONSTRUCTION_KEY][()]
    except OSError as err:
        raise VolumeProblem(f"cannot read prediction {path} ({err})") from err


def _check_values(name: str, volume: np.ndarray) -> None:
    """A target or prediction must hold real, finite floating-point numbers (fastMRI's are
    float32; integers would be images rounded or scaled by some other program)."""
    if volume.dtype.kind != "f":
        raise VolumeProblem(f"{name} has dtype {volume.dtype}, not real floating-point numbers")
    if not is_finite(volume):
        raise VolumeProblem(f"{name} holds NaN or infinite values")


def _evaluate_volume(target: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    """Crops target and prediction as ``fastmri.evaluate`` does and computes the metrics."""
    _check_values("target", target)
    _check_values("prediction", prediction)
    if target.ndim != 3:
        raise VolumeProblem(f"target has shape {target.shape}, expected (slices, height, width)")
    if prediction.ndim != 3 or prediction.shape[0] != target.shape[0]:
        raise VolumeProblem(
            f"prediction has shape {prediction.shape}, target {target.shape}: "
            "expected the same number of slices"
        )
    side = target.shape[-1]
    if target.shape[-2] < side:
        raise VolumeProblem(
            f"target is {target.shape[-2]}x{side}: fastMRI's square crop needs height >= width"
        )
    target = square_crop(target, side)
    if min(prediction.shape[-2:]) < side:
        raise VolumeProblem(
            f"prediction {prediction.shape[-2]}x{prediction.shape[-1]} is smaller than the "
            f"target's {side}x{side} crop"
        )
    prediction = square_crop(prediction, side)
    try:
        return volume_metrics(target, prediction)
    except ValueError as err:
        raise VolumeProblem(str(err)) from err


def evaluate_folders(
    target_path: str | Path,
    predictions_path: str | Path,
    challenge: str | None = None,
    acquisition: str | None = None,
) -> Report:
    """NMSE, PSNR and SSIM of every reconstruction against its fastMRI target.

    Matches ``fastmri.evaluate.evaluate`` (fastmri 0.3.0) number for number where both run:
    the target is centre-cropped to a square of its own width (``target.shape[-1]``) and the
    prediction to the same square, with fastmri's crop offsets; the metrics' data range is
    the cropped target volume's maximum (not the file's ``max`` attribute, which fastMRI's
    validation uses); the summary's standard deviation is the sample one. Unlike fastmri it
    reads only ``*.h5`` files, in name order, applies the acquisition filter before opening the
    prediction, and records volumes it cannot evaluate in ``problems`` instead of stopping.

    Args:
        target_path: folder of fastMRI HDF5 files holding the targets.
        predictions_path: folder of HDF5 files of the same names with a ``reconstruction``
            dataset of shape (slices, height, width).
        challenge: ``singlecoil`` (target ``reconstruction_esc``) or ``multicoil``
            (``reconstruction_rss``); ``None`` infers it per file from the keys present.
        acquisition: evaluate only files whose ``acquisition`` attribute equals this.

    Returns:
        The report (method ``prediction``): per-volume metrics, summary per acquisition and
        overall, and failures (``"<fname>: <what>"``) for volumes that could not be scored.
    """
    target_path, predictions_path = Path(target_path), Path(predictions_path)
    if challenge is not None:
        check_challenge(challenge)
    if not target_path.is_dir():
        raise FileNotFoundError(f"target-path: {target_path}: no such folder")
    if not predictions_path.is_dir():
        raise FileNotFoundError(f"predictions-path: {predictions_path}: no such folder")
    try:
        target_files = list_volume_files(target_path)  # warns about look-alikes it leaves out
    except ValueError:
        raise ValueError(f"target-path: {target_path}: no *.h5 files") from None

    report = Report(methods=[PREDICTION], group_by="acquisition")
    for target_file in target_files:
        fname = target_file.name
        try:
            with h5py.File(target_file, "r") as hf:
                volume_acquisition = acquisition_of(hf.attrs)
                if acquisition is not None and volume_acquisition != acquisition:
                    continue
                target = hf[_target_key(hf, challenge)][()]
            prediction = _read_prediction(predictions_path / fname)
            metrics = _evaluate_volume(target, prediction)
        except VolumeProblem as problem:
            report.failures.append(f"{fname}: {problem}")
            continue
        except OSError as err:
            report.failures.append(f"{fname}: cannot read target {target_file} ({err})")
            continue
        report.add(VolumeScores(fname, volume_acquisition, {PREDICTION: metrics}))
    return report
