"""Model versus zero-filled, per volume and per acceleration: what ``evaluate --checkpoint`` and the
demo report.

Each row holds one volume at one acceleration, scored with fastMRI's definitions (data range =
the target volume's maximum, SSIM per slice then averaged) for the zero-filled input and for the
model's reconstruction.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mri_recon.metrics import volume_metrics
from mri_recon.report import METRICS, mean_and_std, save_json_or_csv

METHODS = ("zero_filled", "model")
METHOD_LABELS = {"zero_filled": "zero-filled", "model": "U-Net"}


def compare_volume(
    fname: str, acquisition: str, acceleration: int, target, zero_filled, reconstruction
) -> dict[str, Any]:
    """One row: the volume's metrics for both methods, ``{"fname", ..., "model": {...}}``."""
    return {
        "fname": fname,
        "acquisition": acquisition,
        "acceleration": int(acceleration),
        "zero_filled": volume_metrics(target, zero_filled),
        "model": volume_metrics(target, reconstruction),
    }


@dataclass
class ComparisonReport:
    """Rows of ``compare_volume``, the volumes that could not be scored, and the checkpoint used."""

    checkpoint: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """``{"4x": {"count": n, "zero_filled": {"ssim_mean": ..., "ssim_std": ...}, ...}}``."""
        result: dict[str, dict] = {}
        for acceleration in sorted({row["acceleration"] for row in self.rows}):
            rows = [row for row in self.rows if row["acceleration"] == acceleration]
            group: dict[str, Any] = {"count": len(rows)}
            for method in METHODS:
                group[method] = mean_and_std([row[method] for row in rows])
            result[f"{acceleration}x"] = group
        return result

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``checkpoint``, ``volumes`` (the rows), ``summary``, ``problems``."""
        return {
            "checkpoint": self.checkpoint,
            "volumes": self.rows,
            "summary": self.summary(),
            "problems": self.problems,
        }


def format_comparison(report: ComparisonReport) -> str:
    """Fixed-width table: per acceleration, mean +- std of each metric for both methods."""
    header = f"{'acceleration':>12}  {'method':<11}  {'volumes':>7}  " + "  ".join(
        f"{m.upper():>17}" for m in METRICS
    )
    lines = [header, "-" * len(header)]
    for acceleration, group in report.summary().items():
        for method in METHODS:
            stats = group[method]
            cells = [
                f"{stats[f'{m}_mean']:.4f} +- {stats[f'{m}_std']:.4f}"
                if m != "psnr"
                else f"{stats[f'{m}_mean']:.2f} +- {stats[f'{m}_std']:.2f}"
                for m in METRICS
            ]
            lines.append(
                f"{acceleration:>12}  {METHOD_LABELS[method]:<11}  {group['count']:>7}  "
                + "  ".join(f"{c:>17}" for c in cells)
            )
    if not report.rows:
        lines.append("no volumes evaluated")
    if report.problems:
        lines += ["", f"skipped {len(report.problems)}:", *(f"  {p}" for p in report.problems)]
    return "\n".join(lines)


def write_comparison(report: ComparisonReport, path: str | Path, overwrite: bool = False) -> Path:
    """Saves the report as JSON (``to_dict()``) or CSV (one row per volume, acceleration and
    method), chosen by the suffix, atomically."""
    columns = ["fname", "acquisition", "acceleration", "method", *METRICS]
    rows = [
        {key: row[key] for key in columns[:3]} | {"method": method} | row[method]
        for row in report.rows
        for method in METHODS
    ]
    return save_json_or_csv(path, report.to_dict(), columns, rows, overwrite)
