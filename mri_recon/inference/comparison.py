"""Baselines and networks side by side, per volume and acceleration: the comparison loop of
``evaluate --checkpoint`` and the demo.

Each volume is scored with fastMRI's definitions (data range = the target volume's maximum, SSIM
per slice then averaged) for the zero-filled input, the compressed-sensing baseline (when it
runs) and each network's reconstruction, and optionally drawn: its middle slice in one row,
zero-filled | CS | network(s) | target | error(s), as a PNG, and all its slices in the HTML
report's viewer (``mri_recon.html.Viewer``). A volume that failed (a bad slice, a non-finite
output or target) is a failure of the report, in no mean. The methods run over the same volumes
in the same order, each in its own volume loop.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mri_recon.data.fastmri_format import MASK_KEY, target_key
from mri_recon.data.file_check import BadFileError, open_volume
from mri_recon.data.finite import check_finite
from mri_recon.evaluation import acquisition_of
from mri_recon.figures import ComparisonRow, save_comparison_png
from mri_recon.inference.compressed_sensing import NAME as CS
from mri_recon.inference.volumes import VolumeFailure, VolumeResult
from mri_recon.metrics import volume_metrics
from mri_recon.report import Report, VolumeScores

if TYPE_CHECKING:
    from mri_recon.html import Viewer

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


def comparison_report(methods: Sequence[str], **info: str) -> Report:
    """An empty report of ``zero-filled`` beside each of ``methods`` (the CS baseline, the
    networks), grouped by acceleration."""
    return Report(methods=[ZERO_FILLED, *methods], group_by="acceleration", info=dict(info))


def figure_path(folder: Path, fname: str, acceleration: int) -> Path:
    """Where a volume's figure at one acceleration goes: ``<folder>/<stem>_<acceleration>x.png``."""
    return folder / f"{Path(fname).stem}_{acceleration}x.png"


def save_volume_figure(
    path: Path, scores: VolumeScores, truth: Truth, volumes: Mapping[str, VolumeResult]
) -> Path:
    """A PNG of the volume's middle slice in one row: zero-filled | each method's
    reconstruction (CS, networks) | target | each method's error."""
    middle = truth.target.shape[0] // 2
    first = volumes[_zero_filled_source(list(volumes))]

    def label(method: str) -> str:
        return f"{method}  volume SSIM {scores.scores[method]['ssim']:.3f}"

    row = ComparisonRow(
        title=f"{first.fname}  slice {middle}  {truth.acceleration}x",
        zero_filled=first.zero_filled[middle],
        reconstruction=[volume.reconstruction[middle] for volume in volumes.values()],
        target=truth.target[middle],
        labels=[
            label(ZERO_FILLED),
            *(label(model) for model in volumes),
            "target",
            *(f"|{model} error| x5" for model in volumes),
        ],
    )
    return save_comparison_png([row], path, overwrite=True)


def _zero_filled_source(methods: Sequence[str]) -> str:
    """The method whose volume loop gives the zero-filled images: the first network's (the
    CS baseline's when it runs alone). Every loop's zero-filled image is the same (tested)."""
    return next((method for method in methods if method != CS), methods[0])


def compare_methods(
    volumes: Mapping[str, Iterable[VolumeResult | VolumeFailure]],
    truth: Callable[[str], Truth],
    report: Report,
    figures: Path | None = None,
    each: Callable[[str, VolumeResult], object] | None = None,
    viewer: "Viewer | None" = None,
) -> Report:
    """Scores each volume's zero-filled image and reconstructions against its truth.

    Args:
        volumes: per method of ``report`` after zero-filled (the CS baseline, the networks),
            the volume loop's output; every method's over the same files in the same order.
            Each volume's targets are read only when it comes.
        truth: the target, acquisition and acceleration of a volume, by file name; raises
            ``BadFileError`` for a bad target.
        report: from ``comparison_report`` with the networks of ``volumes``; one row is added
            per volume, one failure per volume that failed (for any network) or whose target is
            bad.
        figures: folder for ``figure_path`` per volume (replacing mri-recon's own figures
            there; check them before the work); ``None``: no figures.
        each: called with every method's name and volume after the volume is scored (the demo
            saves the network's).
        viewer: collects the volume's slices for the HTML report.

    Returns:
        ``report``.
    """
    zero_filled, *models = report.methods
    if list(volumes) != models:
        raise ValueError(f"volumes: methods {list(volumes)} differ from the report's {models}")
    source = models.index(_zero_filled_source(models))
    for results in zip(*volumes.values(), strict=True):
        failed = [str(result) for result in results if isinstance(result, VolumeFailure)]
        if failed:
            report.failures += failed
            continue
        by_model = dict(zip(models, results))
        fname, zero_filled_image = results[0].fname, results[source].zero_filled
        try:
            known = truth(fname)
        except BadFileError as error:
            report.failures.append(f"{fname}: target {error}")
            continue
        scores = VolumeScores(
            fname=fname,
            acquisition=known.acquisition,
            acceleration=known.acceleration,
            scores={
                zero_filled: volume_metrics(known.target, zero_filled_image),
                **{m: volume_metrics(known.target, v.reconstruction) for m, v in by_model.items()},
            },
        )
        report.add(scores)
        if figures is not None:
            path = figure_path(figures, fname, known.acceleration)
            save_volume_figure(path, scores, known, by_model)
        if viewer is not None:
            images = {m: v.reconstruction for m, v in by_model.items()}
            viewer.add(fname, known.acceleration, {zero_filled: zero_filled_image} | images,
                       known.target)  # fmt: skip
        if each is not None:
            for model, volume in by_model.items():
                each(model, volume)
    return report
