"""Writing a study's results: the output check, JSON and CSV tables and PNG figures, atomically.

A study checks its output folder before it spends minutes computing (outside the data folder,
no earlier results replaced without ``overwrite``), then writes each file with
``mri_recon.data.io.atomic_path``. Figures are drawn on a ``matplotlib.figure.Figure`` (no
pyplot, so no global state and no display needed).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from PIL import Image

from mri_recon import report
from mri_recon.data.io import check_output_folder, check_owned
from mri_recon.figures import save_png

DPI = 80
STUDY = "study"  # the kind of output (mark) of every file a study writes


def check_output_dir(
    output_dir: Path, names: Iterable[str], overwrite: bool, data_path: Path | None = None
) -> None:
    """Refuses an output folder inside the data folder, or one holding this study's results
    (unless ``overwrite``, and then only results mri-recon wrote: anything else is never
    replaced).

    Args:
        output_dir: where the study will write.
        names: the file names it will write there.
        overwrite: allow replacing earlier results.
        data_path: the data folder the study reads, if any.

    Raises:
        ValueError, FileExistsError: one line naming ``output-dir`` and the problem.
    """
    check_output_folder(output_dir, "output-dir", inputs=[data_path])
    existing = check_owned([output_dir / name for name in names], STUDY, "output-dir")
    if existing and not overwrite:
        raise FileExistsError(
            f"output-dir: {output_dir} already holds {existing[0].name} "
            "(pass --overwrite to replace it)"
        )


def write_json(path: Path, content: dict[str, Any]) -> Path:
    """Writes a study's ``content`` as strict JSON (``mri_recon.report.write_json``)."""
    return report.write_json(path, content, STUDY, overwrite=True)


def write_text(path: Path, text: str) -> Path:
    """Writes a study's ``text`` (``mri_recon.report.write_text``)."""
    return report.write_text(path, text, STUDY, overwrite=True)


def write_csv(path: Path, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> Path:
    """Writes a study's table (``mri_recon.report.write_csv``)."""
    return report.write_csv(path, rows, columns, STUDY, overwrite=True)


def save_figure(figure: Figure, path: Path) -> Path:
    """Saves ``figure`` as a PNG with a palette of 256 colours (plots need no more; the file
    is about a third of the full-colour one), marked as a study output.

    Args:
        figure: the figure.
        path: the file to (over)write.

    Returns:
        ``path``.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    image = Image.open(buffer).convert("RGB").quantize(colors=256)
    return save_png(image, path, STUDY, overwrite=True)


def write_results(
    output_dir: Path,
    files: tuple[str, str, str],
    content: dict[str, Any],
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    figure: Figure,
) -> None:
    """Writes a training study's three files: its JSON content, its CSV table, its figure.

    Args:
        output_dir: the folder.
        files: the names of the ``.json``, ``.csv`` and ``.png`` files, in that order.
        content: the JSON content.
        rows: the table's rows.
        columns: the table's columns.
        figure: the figure.
    """
    write_json(output_dir / files[0], content)
    write_csv(output_dir / files[1], rows, columns)
    save_figure(figure, output_dir / files[2])


def closing_lines(
    checks: Sequence[dict[str, Any]], output_dir: Path, files: Sequence[str]
) -> list[str]:
    """The end of a study's printed summary.

    Args:
        checks: the study's checks.
        output_dir: where it wrote its files.
        files: their names.

    Returns:
        The checks, one per line, and a ``wrote <path>`` line per file.
    """
    return ["checks:", format_checks(checks), *(f"wrote {output_dir / name}" for name in files)]


def check(statement: str, passed: bool, detail: str = "") -> dict[str, Any]:
    """One check of a study's numbers against theory or a reference.

    Args:
        statement: what must hold.
        passed: whether it held.
        detail: the numbers behind the verdict.

    Returns:
        ``{"statement", "passed", "detail"}``.
    """
    return {"statement": statement, "passed": bool(passed), "detail": detail}


def format_checks(checks: Sequence[dict[str, Any]]) -> str:
    """Checks as text.

    Args:
        checks: as :func:`check` makes them.

    Returns:
        One line per check: ``ok`` or ``FAILED``, the statement and its numbers.
    """
    lines = []
    for entry in checks:
        verdict = "ok    " if entry["passed"] else "FAILED"
        detail = f" ({entry['detail']})" if entry["detail"] else ""
        lines.append(f"  {verdict} {entry['statement']}{detail}")
    return "\n".join(lines)


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A fixed-width text table.

    Args:
        rows: the rows.
        columns: ``(key, format)`` pairs; a value of None prints as ``-``.

    Returns:
        The header, a rule and one line per row.
    """
    cells = [
        [("-" if row.get(key) is None else format(row[key], fmt)) for key, fmt in columns]
        for row in rows
    ]
    widths = [
        max([len(key)] + [len(line[i]) for line in cells]) for i, (key, _) in enumerate(columns)
    ]
    header = "  ".join(key.rjust(w) for (key, _), w in zip(columns, widths))
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(line, widths)) for line in cells]
    return "\n".join([header, "-" * len(header), *lines])
