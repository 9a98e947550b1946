"""Running the optimizer study end to end and writing its table, JSON and figure."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from mri_recon.studies.data import StudyData
from mri_recon.studies.loop import zero_filled_scores
from mri_recon.studies.optimizers import (
    OptimizerStudy,
    initial_loss,
    result_rows,
    run_study,
    torch_check,
)
from mri_recon.studies.output import (
    check,
    closing_lines,
    format_table,
    write_results,
)
from mri_recon.studies.training_plots import optimizers_figure

FILES = ("optimizers.json", "optimizers.csv", "optimizers.png")
CHECK_TOLERANCE = 1e-5  # relative: float32 rounding of differently ordered operations
COLUMNS = (
    "method",
    "lr",
    "best",
    "steps",
    "samples",
    "wall_s",
    "diverged",
    "train_loss",
    "val_ssim",
    "val_psnr",
    "val_nmse",
    "val_l1",
)
TABLE = (
    ("method", "s"),
    ("lr", "g"),
    ("best", ""),
    ("steps", "d"),
    ("wall_s", ".1f"),
    ("diverged", ""),
    ("train_loss", ".4f"),
    ("val_ssim", ".4f"),
    ("val_psnr", ".2f"),
)


def run_optimizers(study: OptimizerStudy, data: StudyData, output_dir: Path) -> dict[str, Any]:
    """Checks the optimizers against torch, trains every run, writes the files.

    Args:
        study: the settings.
        data: the slices.
        output_dir: the folder for ``FILES`` (checked beforehand by the caller).

    Returns:
        The JSON content written (``checks`` among it).
    """
    checks = [
        check(
            f"mri_recon.optim equals torch.optim for {study.check_steps} steps: {name}",
            error <= CHECK_TOLERANCE,
            f"relative difference {error:.1e}",
        )
        for name, error in torch_check(study, data).items()
    ]
    start = initial_loss(study, data)
    zero_filled = zero_filled_scores(data.val, study.run.batch_size)
    zero_filled_train = zero_filled_scores(data.train, study.run.batch_size)["l1"]
    results = run_study(study, data)
    rows = result_rows(results, start)
    curves = {
        f"{r.method.name} lr={lr:g}": {"samples": rec.samples, "loss": rec.loss}
        for r in results
        for lr, rec in r.runs.items()
    }
    content = {
        "study": "optimizers",
        "data": data.describe(),
        "settings": asdict(study),
        "initial_train_loss": start,
        "zero_filled": {"val": zero_filled, "train_l1": zero_filled_train},
        "checks": checks,
        "runs": rows,
        "curves": curves,
    }
    figure = optimizers_figure(results, len(data.train), start, zero_filled_train)
    write_results(output_dir, FILES, content, rows, COLUMNS, figure)
    return content


def summary(content: dict[str, Any], output_dir: Path) -> str:
    """The text printed at the end.

    Args:
        content: what :func:`run_optimizers` wrote.
        output_dir: where it wrote it.

    Returns:
        The table, the checks and the files.
    """
    zero = content["zero_filled"]["val"]
    return "\n".join(
        [
            f"optimizer study on {content['data']}",
            f"untrained network: training loss {content['initial_train_loss']:.4f}; zero-filled "
            f"input: validation SSIM {zero['ssim']:.4f}, PSNR {zero['psnr']:.2f}",
            format_table(content["runs"], TABLE),
            *closing_lines(content["checks"], output_dir, FILES),
        ]
    )
