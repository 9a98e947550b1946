"""The result of an evaluation: per-volume metrics, their summary, and how to show and save them.

``EvaluationReport`` holds the numbers; ``format_table`` renders them as fixed-width text and
``write_report`` saves them as JSON or CSV, atomically.
"""

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mri_recon.data.io import atomic_path, check_outside

METRICS = ("nmse", "psnr", "ssim")
ALL = "all"  # the summary key over every volume
CSV_COLUMNS = ("row", "fname", "acquisition", "count", *METRICS, "problem")
FORMATS = {"nmse": ".4f", "psnr": ".2f", "ssim": ".4f"}


def summarize(volumes: list[dict[str, Any]]) -> dict[str, dict[str, float | int]]:
    """Mean and standard deviation of each metric, per acquisition and over all volumes.

    The standard deviation is the sample one (``ddof=1``), as ``fastmri.evaluate`` reports it;
    it is 0.0 for a group of one volume.

    Args:
        volumes: per-volume records with keys ``acquisition``, ``nmse``, ``psnr``, ``ssim``.

    Returns:
        ``{group: {"count", "nmse_mean", "nmse_std", ...}}`` for each acquisition (sorted) and
        ``"all"``; empty when there are no volumes.
    """
    if not volumes:
        return {}
    groups = {
        acq: [v for v in volumes if v["acquisition"] == acq]
        for acq in sorted({v["acquisition"] for v in volumes})
    }
    groups[ALL] = volumes
    return {
        name: {"count": len(members), **mean_and_std(members)} for name, members in groups.items()
    }


def mean_and_std(records: list[dict[str, Any]]) -> dict[str, float]:
    """``{metric}_mean`` and ``{metric}_std`` of each metric over ``records``.

    The standard deviation is the sample one (``ddof=1``), as ``fastmri.evaluate`` reports it;
    it is 0.0 for a single record.
    """
    stats = {}
    for metric in METRICS:
        values = np.array([record[metric] for record in records], dtype=np.float64)
        stats[f"{metric}_mean"] = float(values.mean())
        stats[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return stats


@dataclass
class EvaluationReport:
    """Metrics of every evaluated volume, their summary, and the volumes that were skipped.

    Attributes:
        volumes: one ``{"fname", "acquisition", "nmse", "psnr", "ssim"}`` per volume, by name.
        summary: ``summarize(volumes)``: per acquisition and ``"all"``, the count and the mean
            and standard deviation of each metric.
        problems: ``"<fname>: <what>"`` for each volume that could not be evaluated.
    """

    volumes: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, dict[str, float | int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_volumes(
        cls, volumes: list[dict[str, Any]], problems: list[str] | None = None
    ) -> "EvaluationReport":
        """A report whose summary is computed from ``volumes``."""
        return cls(list(volumes), summarize(volumes), list(problems or []))

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data: keys ``volumes``, ``summary``, ``problems``."""
        return {
            "volumes": [dict(v) for v in self.volumes],
            "summary": {name: dict(stats) for name, stats in self.summary.items()},
            "problems": list(self.problems),
        }


def _fmt(value: float, metric: str) -> str:
    return format(value, FORMATS[metric]) if math.isfinite(value) else str(value)


def format_table(report: EvaluationReport) -> str:
    """The report as fixed-width text: one line per volume, then mean +- std per acquisition.

    Args:
        report: the report to render.

    Returns:
        The table (no trailing newline); skipped volumes are listed last.
    """
    name_width = max([len("fname"), *(len(v["fname"]) for v in report.volumes)])
    acq_width = max([len("acquisition"), *(len(name) for name in report.summary)])
    lines = [
        f"{'fname':<{name_width}}  {'acquisition':<{acq_width}}  "
        f"{'NMSE':>10}  {'PSNR':>8}  {'SSIM':>8}"
    ]
    for v in report.volumes:
        lines.append(
            f"{v['fname']:<{name_width}}  {v['acquisition']:<{acq_width}}  "
            f"{_fmt(v['nmse'], 'nmse'):>10}  {_fmt(v['psnr'], 'psnr'):>8}  "
            f"{_fmt(v['ssim'], 'ssim'):>8}"
        )
    if report.summary:
        cells = [f"{m.upper()} mean +- std" for m in METRICS]
        lines += [
            "",
            f"{'acquisition':<{acq_width}}  {'count':>5}  " + "  ".join(f"{c:>22}" for c in cells),
        ]
        for name, stats in report.summary.items():
            pairs = [
                f"{_fmt(stats[f'{m}_mean'], m)} +- {_fmt(stats[f'{m}_std'], m)}" for m in METRICS
            ]
            lines.append(
                f"{name:<{acq_width}}  {stats['count']:>5}  " + "  ".join(f"{p:>22}" for p in pairs)
            )
    else:
        lines += ["", "no volumes evaluated"]
    if report.problems:
        lines += ["", f"skipped {len(report.problems)}:", *(f"  {p}" for p in report.problems)]
    return "\n".join(lines)


def _csv_rows(report: EvaluationReport) -> list[dict[str, Any]]:
    """Volume rows, then a ``mean`` and a ``std`` row per summary group, then problem rows."""
    rows: list[dict[str, Any]] = [{"row": "volume", "count": 1, **v} for v in report.volumes]
    for name, stats in report.summary.items():
        for kind in ("mean", "std"):
            rows.append(
                {"row": kind, "acquisition": name, "count": stats["count"]}
                | {m: stats[f"{m}_{kind}"] for m in METRICS}
            )
    for problem in report.problems:
        fname, _, what = problem.partition(": ")
        rows.append({"row": "problem", "fname": fname, "problem": what})
    return rows


def write_report(report: EvaluationReport, path: str | Path, overwrite: bool = False) -> Path:
    """Saves the report as JSON or CSV, chosen by the file suffix, atomically.

    JSON holds ``to_dict()``. CSV has the columns ``row, fname, acquisition, count, nmse, psnr,
    ssim, problem``: one ``volume`` row per volume, a ``mean`` and a ``std`` row per
    acquisition and for ``all`` (their ``acquisition`` column names the group), and one
    ``problem`` row per skipped volume.

    Args:
        report: the report to save.
        path: destination ending in ``.json`` or ``.csv``.
        overwrite: replace an existing file; otherwise ``FileExistsError``.

    Returns:
        ``path`` as a ``Path``.
    """
    return save_json_or_csv(path, report.to_dict(), CSV_COLUMNS, _csv_rows(report), overwrite)


def check_report_path(
    path: str | Path, overwrite: bool, inputs: Sequence[str | Path | None] = ()
) -> None:
    """Checks a report destination before any work: suffix, an existing file, input folders.

    Raises:
        ValueError: not ``.json``/``.csv``, or inside one of the ``inputs`` folders.
        FileExistsError: it exists and ``overwrite`` is false.
    """
    path = Path(path)
    if path.suffix.lower() not in (".json", ".csv"):
        raise ValueError(f"output: {path} must end in .json or .csv")
    if path.exists() and not overwrite:
        raise FileExistsError(f"output: {path} already exists (pass --overwrite to replace it)")
    for folder in inputs:
        if folder is not None:
            check_outside(path, folder, "output")


def save_json_or_csv(
    path: str | Path,
    data: dict[str, Any],
    columns: Sequence[str],
    rows: list[dict[str, Any]],
    overwrite: bool = False,
) -> Path:
    """Writes ``data`` as JSON or ``rows`` as CSV (by ``path``'s suffix), atomically.

    Raises:
        ValueError: the suffix is neither ``.json`` nor ``.csv``.
        FileExistsError: ``path`` exists and ``overwrite`` is false.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".csv"):
        raise ValueError(f"{path}: report must end in .json or .csv, got {path.suffix!r}")
    with atomic_path(path, overwrite=overwrite) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            if suffix == ".json":
                json.dump(data, f, indent=2)
                f.write("\n")
            else:
                writer = csv.DictWriter(f, fieldnames=list(columns), restval="")
                writer.writeheader()
                writer.writerows(rows)
    return path
