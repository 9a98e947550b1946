"""The one report system: per-volume scores of one or more methods, summarised per group, shown as
a fixed-width table and saved as JSON or CSV.

Both evaluations fill a ``Report``: ``evaluate`` on folders (one method, ``prediction``, grouped
by acquisition plus ``all``, as ``fastmri.evaluate`` summarises) and the comparison of baselines
and networks of ``evaluate --checkpoint`` and the demo (methods ``zero-filled``, ``CS`` when it
runs, and the networks, grouped by acceleration). Numbers are shown with one rule (``FORMATS``).

Its writers (``write_json``, ``write_csv``, ``write_text``, ``write_html``) are the one way any
command writes a table or a record: atomically, as strict JSON, and marked as mri-recon's
(``mri_recon.data.marks``), so a rerun replaces its own files and never another program's; the
HTML report (``mri_recon.html``) is rendered from a ``Report`` and written by ``write_html``.
"""

import csv
import io
import json
import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mri_recon.data.io import atomic_path, check_output
from mri_recon.data.marks import HTML_DOCTYPE, MARK_KEY, writer_mark

METRICS = ("nmse", "psnr", "ssim")
FORMATS = {"nmse": ".4f", "psnr": ".2f", "ssim": ".4f"}
GROUPINGS = ("acquisition", "acceleration")
ALL = "all"  # the summary group over every volume when grouping by acquisition
REPORT_SUFFIXES = (".json", ".csv")
REPORT = "report"  # the kind of output (mark) of reports
CSV_COLUMNS = ("row", "fname", "acquisition", "acceleration", "group", "method", "count",
               *METRICS, "problem")  # fmt: skip
PROBLEM_ROWS = (("problems", "problem"), ("failures", "failure"))  # list of a Report, CSV row


def format_metric(value: float, metric: str) -> str:
    """``value`` with the digits ``FORMATS`` gives ``metric`` (non-finite values as they are)."""
    return format(value, FORMATS[metric]) if math.isfinite(value) else str(value)


def mean_and_std(records: Sequence[dict[str, float]]) -> dict[str, float]:
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
class VolumeScores:
    """One volume's metrics for each method (at one acceleration, where that applies)."""

    fname: str
    acquisition: str
    scores: dict[str, dict[str, float]]  # method -> {"nmse", "psnr", "ssim"}
    acceleration: int | None = None


@dataclass
class Report:
    """Scores of volumes, their summary per group, and the volumes that were not scored.

    Attributes:
        methods: the methods scored, in table order.
        group_by: ``acquisition`` (one group per acquisition, plus ``all``) or ``acceleration``.
        volumes: the scores, in the order they were added.
        problems: ``"<fname>: <what>"`` for each volume left out as not scorable (a test file
            without a target): noted, not an error.
        failures: ``"<fname>: <what>"`` for each volume that should have been scored but could
            not be (missing, unreadable, mis-shaped, NaN or infinite values): an error, and
            excluded from every mean.
        info: where the numbers come from (e.g. ``{"checkpoint": path}``).
    """

    methods: list[str]
    group_by: str = "acquisition"
    volumes: list[VolumeScores] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    info: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.group_by not in GROUPINGS:
            raise ValueError(f"group_by must be one of {GROUPINGS}, got {self.group_by!r}")

    def add(self, volume: VolumeScores) -> None:
        """Adds a volume scored by every method of the report."""
        if set(volume.scores) != set(self.methods):
            given = sorted(volume.scores)
            raise ValueError(f"{volume.fname}: scores for {given}, not for {self.methods}")
        self.volumes.append(volume)

    def groups(self) -> dict[str, list[VolumeScores]]:
        """The volumes of each summary group, e.g. ``{"AXT2": [...], "all": [...]}`` or
        ``{"4x": [...], "8x": [...]}``, in sorted order."""
        if self.group_by == "acceleration":
            keys = sorted({v.acceleration for v in self.volumes})
            return {f"{k}x": [v for v in self.volumes if v.acceleration == k] for k in keys}
        keys = sorted({v.acquisition for v in self.volumes})
        groups = {k: [v for v in self.volumes if v.acquisition == k] for k in keys}
        return groups | ({ALL: list(self.volumes)} if self.volumes else {})

    def summary(self) -> dict[str, dict[str, Any]]:
        """``{group: {"count": n, method: {"nmse_mean": ..., "nmse_std": ..., ...}}}``."""
        return {
            name: {"count": len(members)}
            | {m: mean_and_std([v.scores[m] for v in members]) for m in self.methods}
            for name, members in self.groups().items()
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``info``, ``group_by``, ``methods``, ``volumes``, ``summary``,
        ``problems`` and ``failures``."""
        return {
            "info": dict(self.info),
            "group_by": self.group_by,
            "methods": list(self.methods),
            "volumes": [asdict(v) for v in self.volumes],
            "summary": self.summary(),
            "problems": list(self.problems),
            "failures": list(self.failures),
        }


def format_table(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    left: int | Collection[int] = 1,
    markdown: bool = False,
) -> str:
    """The one text table of the project: reports, studies, the benchmark and the scripts.

    Args:
        header: the column titles.
        rows: one sequence of cells per row; a cell is shown with ``str`` (``None`` as ``-``).
        left: the columns aligned left (the others, numbers, right): how many leading ones, or
            their indices.
        markdown: a Markdown table (``| a | b |`` with an alignment row) instead of fixed-width
            columns two spaces apart under a rule as wide as the header.

    Returns:
        The table, one line per row after the header, without trailing spaces.
    """
    cells = [[("-" if cell is None else str(cell)) for cell in row] for row in rows]
    lefts = set(range(left)) if isinstance(left, int) else set(left)
    widths = [max(len(line[i]) for line in [list(header), *cells]) for i in range(len(header))]

    def line(values: Sequence[str]) -> str:
        padded = [
            v.ljust(w) if i in lefts else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths))
        ]
        return ("| " + " | ".join(padded) + " |") if markdown else "  ".join(padded).rstrip()

    title = line(header)
    if markdown:
        ends = ["-" if i in lefts else ":" for i in range(len(widths))]
        rule = "|" + "|".join("-" * (w + 1) + end for w, end in zip(widths, ends)) + "|"
    else:
        rule = "-" * len(title)
    return "\n".join([title, rule, *(line(row) for row in cells)])


def format_report(report: Report, volumes: bool = True) -> str:
    """The report as fixed-width text: per-volume lines (``volumes``), then mean +- std of each
    metric per group and method, then the volumes left out and those that failed."""
    several = len(report.methods) > 1
    blocks: list[str] = []
    if volumes and report.volumes:
        by = ["acceleration"] if report.group_by == "acceleration" else []
        header = ["fname", "acquisition", *by, *(["method"] if several else []),
                  *(m.upper() for m in METRICS)]  # fmt: skip
        rows = [
            [
                v.fname,
                v.acquisition,
                *[f"{v.acceleration}x" for _ in by],
                *([method] if several else []),
                *(format_metric(v.scores[method][m], m) for m in METRICS),
            ]  # fmt: skip
            for v in report.volumes
            for method in report.methods
        ]
        blocks += [format_table(header, rows, left=len(header) - len(METRICS)), ""]
    summary = report.summary()
    if summary:
        header = [report.group_by, "method", "volumes", *(m.upper() for m in METRICS)]
        rows = [
            [
                name,
                method,
                str(group["count"]),
                *(
                    f"{format_metric(group[method][f'{m}_mean'], m)} +- "
                    f"{format_metric(group[method][f'{m}_std'], m)}"
                    for m in METRICS
                ),
            ]  # fmt: skip
            for name, group in summary.items()
            for method in report.methods
        ]
        blocks.append(format_table(header, rows, left=2))
    else:
        blocks.append("no volumes evaluated")
    if report.problems:
        blocks += ["", f"skipped {len(report.problems)}:", *(f"  {p}" for p in report.problems)]
    if report.failures:
        blocks += ["", f"failed {len(report.failures)}:", *(f"  {p}" for p in report.failures)]
    return "\n".join(blocks)


def _csv_rows(report: Report) -> list[dict[str, Any]]:
    """A ``volume`` row per volume and method, a ``mean`` and a ``std`` row per group and
    method, then a ``problem`` row per volume left out and a ``failure`` row per failed one."""
    rows: list[dict[str, Any]] = []
    for v in report.volumes:
        volume = {"fname": v.fname, "acquisition": v.acquisition, "acceleration": v.acceleration}
        for method in report.methods:
            rows.append({"row": "volume", "method": method, "count": 1} | volume | v.scores[method])
    for name, group in report.summary().items():
        for method in report.methods:
            for kind in ("mean", "std"):
                stats = {m: group[method][f"{m}_{kind}"] for m in METRICS}
                rows.append(
                    {"row": kind, "group": name, "method": method, "count": group["count"]} | stats
                )
    for attribute, row in PROBLEM_ROWS:
        for problem in getattr(report, attribute):
            fname, _, what = problem.partition(": ")
            rows.append({"row": row, "fname": fname, "problem": what})
    return rows


def check_report_path(
    path: str | Path, overwrite: bool, inputs: Sequence[str | Path | None] = ()
) -> None:
    """Checks a report destination before any work: its suffix, then ``check_output``.

    Raises:
        ValueError: not ``.json``/``.csv``, inside one of the ``inputs`` folders, not writable,
            or in the way of a file mri-recon did not write.
        FileExistsError: it exists and ``overwrite`` is false.
    """
    path = Path(path)
    if path.suffix.lower() not in REPORT_SUFFIXES:
        raise ValueError(f"output: {path} must end in .json or .csv")
    check_output(path, "output", REPORT, overwrite, inputs)


def _plain(value: Any) -> Any:
    """``value`` as strict JSON: non-finite floats as ``null``, tuples as lists, keys as text."""
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def write_json(
    path: str | Path, content: dict[str, Any], kind: str, overwrite: bool = False
) -> Path:
    """Writes ``content`` atomically as indented, strict JSON (non-finite numbers as ``null``)
    with mri-recon's mark of ``kind`` as its first key, ``written_by``.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false, or it is not a ``kind``
            file of mri-recon's (never replaced).
    """
    marked = {MARK_KEY: writer_mark(kind), **_plain(content)}
    with atomic_path(path, kind, overwrite=overwrite) as tmp:
        text = json.dumps(marked, indent=2, allow_nan=False, default=str)
        tmp.write_text(text + "\n", encoding="utf-8")
    return Path(path)


def write_text(path: str | Path, text: str, kind: str, overwrite: bool = False) -> Path:
    """Writes ``text`` atomically after a first line with mri-recon's mark of ``kind``, as a
    comment (``# mri-recon 0.1.0 (study)``); see ``write_json`` for ``overwrite``."""
    with atomic_path(path, kind, overwrite=overwrite) as tmp:
        tmp.write_text(f"# {writer_mark(kind)}\n{text}", encoding="utf-8")
    return Path(path)


def write_html(path: str | Path, body: str, kind: str, overwrite: bool = False) -> Path:
    """Writes an HTML document atomically: ``<!DOCTYPE html>``, then mri-recon's mark of
    ``kind`` as a comment on the second line, then ``body`` (from ``<html>`` on); see
    ``write_json`` for ``overwrite``."""
    with atomic_path(path, kind, overwrite=overwrite) as tmp:
        tmp.write_text(f"{HTML_DOCTYPE}\n<!-- {writer_mark(kind)} -->\n{body}", encoding="utf-8")
    return Path(path)


def write_csv(
    path: str | Path,
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    kind: str,
    overwrite: bool = False,
) -> Path:
    """Writes one CSV row per dict (missing keys empty, others ignored) under a header of
    ``columns``, after a first comment line with mri-recon's mark of ``kind`` (read it with
    ``pandas.read_csv(path, comment="#")``); see ``write_json`` for ``overwrite``."""
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(columns), restval="", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(_plain(list(rows)))
    return write_text(path, table.getvalue(), kind, overwrite)


def write_report(report: Report, path: str | Path, overwrite: bool = False) -> Path:
    """Saves the report atomically as JSON (``to_dict()``) or CSV (``CSV_COLUMNS``), chosen by
    the suffix of ``path``, marked as a ``report`` of mri-recon's.

    Raises:
        ValueError: the suffix is neither ``.json`` nor ``.csv``.
        FileExistsError: ``path`` exists and ``overwrite`` is false, or it is not a report of
            mri-recon's (never replaced).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in REPORT_SUFFIXES:
        raise ValueError(f"{path}: report must end in .json or .csv, got {path.suffix!r}")
    if suffix == ".json":
        return write_json(path, report.to_dict(), REPORT, overwrite)
    return write_csv(path, _csv_rows(report), CSV_COLUMNS, REPORT, overwrite)
