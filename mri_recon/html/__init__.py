"""The HTML report: one self-contained file beside ``report.json`` that a user can open offline
or mail, built from the same ``Report`` (so its numbers are ``report.json``'s) with a Jinja2
template (``report.html.j2``, shipped in the package) and a little plain JavaScript inline.

It shows, top to bottom: what produced it (checkpoints, recipe, data, masks, the CS settings
and time per slice, versions, date); the summary table, mean +- std per group and method; a plot
of SSIM and PSNR against acceleration per method (inline SVG; comparisons only); the per-volume
table, sortable by any column, with the volumes that failed or were skipped and why; and the
slice viewer (``viewer.Viewer``): per volume, every method beside the target and their error
maps on one grey scale, a slider (or the arrow keys) through the slices, the slice's metrics.
Nothing is fetched at view time: images are PNG data URIs, and the page has no external link.

``write_html_report`` writes it atomically with mri-recon's mark (``report.write_html``), only
ever over an HTML report of mri-recon's.
"""

import datetime
import json
import math
import platform
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from mri_recon.html.viewer import Viewer, ViewerLimits
from mri_recon.report import METRICS, REPORT, Report, format_metric, write_html

__all__ = ["Viewer", "ViewerLimits", "html_path", "render_report", "write_html_report"]

TEMPLATE = "report.html.j2"
PACKAGES = ("mri-recon", "torch", "pytorch-lightning", "fastmri", "sigpy", "numpy", "jinja2")
COLORS = ("#7f7f7f", "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
PLOT = {"width": 340, "height": 220, "left": 56, "right": 12, "top": 24, "bottom": 36}


def html_path(report_path: str | Path) -> Path:
    """Where the HTML report of ``report_path`` goes: beside it, ``<stem>.html``."""
    return Path(report_path).with_suffix(".html")


def versions() -> dict[str, str]:
    """The versions of Python and of the packages behind the numbers (those installed)."""
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found


def nice_ticks(low: float, high: float, most: int = 6) -> tuple[list[float], int]:
    """Round axis ticks (steps of 1, 2 or 5 times a power of ten), at most ``most`` of them,
    from at or below ``low`` to at or above ``high``, and the decimals that print them."""
    if high <= low:  # one value: it goes in the middle
        pad = abs(low) * 0.05 or 0.5
        low, high = low - pad, high + pad
    power = 10.0 ** math.floor(math.log10((high - low) / most))
    for step in (m * power * 10**k for k in range(3) for m in (1, 2, 5)):
        first, last = math.floor(low / step), math.ceil(high / step)
        if last - first + 1 <= most:
            break
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return [round(i * step, decimals) for i in range(first, last + 1)], decimals


def _plots(report: Report, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """SVG geometry of one plot per metric (SSIM, PSNR): the mean per method against the
    acceleration; none unless the report is grouped by acceleration."""
    if report.group_by != "acceleration" or not summary:
        return []
    accelerations = [int(name.rstrip("x")) for name in summary]
    width, height = PLOT["width"], PLOT["height"]
    x0, x1 = PLOT["left"], width - PLOT["right"]
    y0, y1 = height - PLOT["bottom"], PLOT["top"]
    low, high = min(accelerations), max(accelerations)

    def x_of(a: int) -> float:
        return (x0 + x1) / 2 if high == low else x0 + (a - low) / (high - low) * (x1 - x0)

    plots = []
    for metric in ("ssim", "psnr"):
        means = [g[m][f"{metric}_mean"] for g in summary.values() for m in report.methods]
        finite = [v for v in means if math.isfinite(v)]
        ticks, decimals = nice_ticks(*((min(finite), max(finite)) if finite else (0.0, 1.0)))
        bottom, top = ticks[0], ticks[-1]

        def y_of(v: float, bottom: float = bottom, top: float = top) -> float:
            return y0 - (v - bottom) / (top - bottom) * (y0 - y1)

        lines = []
        for index, method in enumerate(report.methods):
            points = [
                (x_of(a), y_of(group[method][f"{metric}_mean"]), group[method][f"{metric}_mean"])
                for a, group in zip(accelerations, summary.values())
                if math.isfinite(group[method][f"{metric}_mean"])
            ]
            lines.append(
                {
                    "method": method,
                    "color": COLORS[index % len(COLORS)],
                    "path": " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points),
                    "points": [
                        {"x": x, "y": y, "text": format_metric(v, metric)} for x, y, v in points
                    ],
                }
            )
        plots.append(
            {
                "metric": metric.upper(),
                "width": width,
                "height": height,
                "axes": {"x0": x0, "x1": x1, "y0": y0, "y1": y1},
                "xticks": [{"x": x_of(a), "text": f"{a}x"} for a in accelerations],
                "yticks": [{"y": y_of(v), "text": f"{v:.{decimals}f}"} for v in ticks],
                "lines": lines,
            }
        )
    return plots


def _volume_rows(report: Report) -> list[dict[str, Any]]:
    """The per-volume table: each scored volume, then each failed and each skipped one."""
    rows = []
    for volume in report.volumes:
        scores = [
            {
                "value": volume.scores[m][metric],
                "text": format_metric(volume.scores[m][metric], metric),
            }
            for m in report.methods
            for metric in METRICS
        ]
        rows.append(
            {
                "fname": volume.fname,
                "acquisition": volume.acquisition,
                "acceleration": volume.acceleration,
                "status": "scored",
                "reason": "",
                "scores": scores,
            }
        )
    for status, problems in (("failed", report.failures), ("skipped", report.problems)):
        for problem in problems:
            fname, _, reason = problem.partition(": ")
            rows.append(
                {
                    "fname": fname,
                    "acquisition": "",
                    "acceleration": None,
                    "status": status,
                    "reason": reason,
                    "scores": [],
                }
            )
    return rows


def _script_json(content: Any) -> str:
    """``content`` as JSON safe inside a ``<script>`` element."""
    text = json.dumps(content, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_report(
    report: Report,
    viewer: Viewer | None = None,
    title: str = "mri-recon evaluation",
    date: datetime.datetime | None = None,
) -> str:
    """The report's HTML, from ``<html>`` on (``write_html`` adds the doctype and the mark).

    Args:
        report: the scores, as ``report.json`` holds them.
        viewer: the slice viewer's volumes (``None``: no viewer).
        title: the page's title.
        date: when it was made (default: now, UTC).
    """
    from jinja2 import Environment, StrictUndefined

    content = report.to_dict()
    summary = content["summary"]
    stamp = (date or datetime.datetime.now(datetime.timezone.utc)).isoformat(timespec="seconds")
    text = resources.files("mri_recon.html").joinpath(TEMPLATE).read_text(encoding="utf-8")
    environment = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True)
    viewer = viewer or Viewer()
    return environment.from_string(text).render(
        title=title,
        report=content,
        group_by=report.group_by,
        methods=report.methods,
        metrics=METRICS,
        summary=summary,
        format_metric=format_metric,
        plots=_plots(report, summary),
        rows=_volume_rows(report),
        info=content["info"],
        versions=versions(),
        date=stamp,
        viewer_json=_script_json({"volumes": viewer.volumes}),
        viewer=viewer,
        colors=COLORS,
    )


def write_html_report(
    report: Report,
    path: str | Path,
    viewer: Viewer | None = None,
    overwrite: bool = False,
    title: str = "mri-recon evaluation",
) -> Path:
    """Writes ``render_report`` atomically at ``path``, marked as a report of mri-recon's
    (replacing only such a file, with ``overwrite``)."""
    return write_html(path, render_report(report, viewer, title), REPORT, overwrite)
