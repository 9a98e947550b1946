"""Running the normalization study end to end and writing its table, JSON and figure."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from mri_recon.studies.data import StudyData
from mri_recon.studies.loop import zero_filled_scores
from mri_recon.studies.normalization import (
    NormalizationStudy,
    batch_of_one_checks,
    result_rows,
    run_study,
)
from mri_recon.studies.output import (
    closing_lines,
    format_table,
    write_results,
)
from mri_recon.studies.training_plots import normalization_figure

FILES = ("normalization.json", "normalization.csv", "normalization.png")
COLUMNS = (
    "variant",
    "norm",
    "batch_size",
    "input_normalized",
    "steps",
    "samples",
    "wall_s",
    "diverged",
    "train_loss",
    "last_epoch_l1",
    "val_ssim",
    "val_psnr",
    "val_nmse",
    "val_l1",
)
TABLE = (
    ("variant", "s"),
    ("batch_size", "d"),
    ("input_normalized", ""),
    ("steps", "d"),
    ("wall_s", ".1f"),
    ("diverged", ""),
    ("last_epoch_l1", ".4f"),
    ("val_l1", ".4f"),
    ("val_ssim", ".4f"),
    ("val_psnr", ".2f"),
    ("val_nmse", ".4f"),
)


def run_normalization(
    study: NormalizationStudy, data: StudyData, output_dir: Path
) -> dict[str, Any]:
    """Trains every variant and writes the files.

    Args:
        study: the settings.
        data: the slices.
        output_dir: the folder for ``FILES`` (checked beforehand by the caller).

    Returns:
        The JSON content written (``checks`` among it).
    """
    zero_filled = zero_filled_scores(data.val, study.run.batch_size)
    records = run_study(study, data)
    rows = result_rows(study, records, len(data.train))
    curves = {
        name: {
            "samples": record.samples,
            "l1": record.l1,
            "grad_norm": record.grad_norm,
            "val": [{"samples": samples, **scores} for samples, scores in record.val_curve],
        }
        for name, record in records.items()
    }
    content = {
        "study": "normalization",
        "data": data.describe(),
        "settings": asdict(study),
        "zero_filled": zero_filled,
        "checks": batch_of_one_checks(study, records),
        "runs": rows,
        "curves": curves,
    }
    figure = normalization_figure(study, records, len(data.train), zero_filled)
    write_results(output_dir, FILES, content, rows, COLUMNS, figure)
    return content


def summary(content: dict[str, Any], output_dir: Path) -> str:
    """The text printed at the end.

    Args:
        content: what :func:`run_normalization` wrote.
        output_dir: where it wrote it.

    Returns:
        The table, the checks and the files.
    """
    zero = content["zero_filled"]
    return "\n".join(
        [
            f"normalization study on {content['data']}",
            f"zero-filled input: validation SSIM {zero['ssim']:.4f}, PSNR {zero['psnr']:.2f}, "
            f"L1 {zero['l1']:.4f}",
            format_table(content["runs"], TABLE),
            *closing_lines(content["checks"], output_dir, FILES),
        ]
    )
