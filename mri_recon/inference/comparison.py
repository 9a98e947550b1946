"""The network against the zero-filled baseline, per volume and acceleration: the comparison loop
of ``evaluate --checkpoint`` and the demo.

Each volume is scored with fastMRI's definitions (data range = the target volume's maximum, SSIM
per slice then averaged) for the zero-filled input and for the network's reconstruction, and
optionally drawn: its middle slice as zero-filled | network | target | error. A volume that failed
(a bad slice, a non-finite output or target) is a failure of the report, in no mean.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mri_recon.data.fastmri_format import MASK_KEY, target_key
from mri_recon.data.file_check import BadFileError, open_volume
from mri_recon.data.finite import check_finite
from mri_recon.evaluation import acquisition_of
from mri_recon.figures import ComparisonRow, save_comparison_png
from mri_recon.inference.volumes import VolumeFailure, VolumeResult
from mri_recon.metrics import volume_metrics
from mri_recon.report import Report, VolumeScores

ZERO_FILLED = "zero-filled"


@dataclass
class Truth:
    """What a reconstruction is scored against: the fully sampled target and its labels."""

    target: np.ndarray
    acquisition: str
    acceleration: int


def has_target(path: Path, challenge: str) -> bool:
    """Whether ``path`` is a fully sampled file with a target (not a test file)."""
    with open_volume(path) as hf:
        return target_key(challenge) in hf and MASK_KEY not in hf


def read_target(path: Path, challenge: str) -> tuple[np.ndarray, str]:
    """A file's target volume and its acquisition.

    Raises:
        BadFileError: unreadable, no target, or NaN or infinite values in it.
    """
    key = target_key(challenge)
    with open_volume(path) as hf:
        if key not in hf:
            raise BadFileError(path, f"no '{key}' dataset")
        target, acquisition = hf[key][()], acquisition_of(hf.attrs)
    check_finite(path, None, **{key: target})
    return target, acquisition


def comparison_report(model: str, **info: str) -> Report:
    """An empty report of ``zero-filled`` against ``model``, grouped by acceleration."""
    return Report(methods=[ZERO_FILLED, model], group_by="acceleration", info=dict(info))


def save_volume_figure(
    path: Path, scores: VolumeScores, truth: Truth, volume: VolumeResult
) -> Path:
    """A PNG of the volume's middle slice: zero-filled | reconstruction | target | error."""
    middle = truth.target.shape[0] // 2
    labels = [
        f"{method}  volume SSIM {scores.scores[method]['ssim']:.3f}" for method in scores.scores
    ]
    figure = ComparisonRow(
        title=f"{volume.fname}  slice {middle}  {truth.acceleration}x",
        zero_filled=volume.zero_filled[middle],
        reconstruction=volume.reconstruction[middle],
        target=truth.target[middle],
        labels=[*labels, "target", "|error| x5"],
    )
    return save_comparison_png([figure], path, overwrite=True)


def compare_with_zero_filled(
    volumes: Iterable[VolumeResult | VolumeFailure],
    truth: Callable[[str], Truth],
    report: Report,
    figures: Path | None = None,
    each: Callable[[VolumeResult], object] | None = None,
) -> Report:
    """Scores each volume's zero-filled image and reconstruction against its truth.

    Args:
        volumes: from the volume loop; each volume's targets are read only when it comes.
        truth: the target, acquisition and acceleration of a volume, by file name; raises
            ``BadFileError`` for a bad target.
        report: from ``comparison_report``; one row is added per volume, one failure per
            volume that failed or whose target is bad.
        figures: folder for ``<name>_<acceleration>x.png`` per volume; ``None``: no figures.
        each: called with every volume after it is scored (the demo saves it).

    Returns:
        ``report``.
    """
    zero_filled, model = report.methods
    for volume in volumes:
        if isinstance(volume, VolumeFailure):
            report.failures.append(str(volume))
            continue
        try:
            known = truth(volume.fname)
        except BadFileError as error:
            report.failures.append(f"{volume.fname}: target {error}")
            continue
        scores = VolumeScores(
            fname=volume.fname,
            acquisition=known.acquisition,
            acceleration=known.acceleration,
            scores={
                zero_filled: volume_metrics(known.target, volume.zero_filled),
                model: volume_metrics(known.target, volume.reconstruction),
            },
        )
        report.add(scores)
        if figures is not None:
            name = f"{Path(volume.fname).stem}_{known.acceleration}x.png"
            save_volume_figure(figures / name, scores, known, volume)
        if each is not None:
            each(volume)
    return report
