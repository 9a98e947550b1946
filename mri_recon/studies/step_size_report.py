"""Running the step-size study end to end and writing its tables, JSON and two figures."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure

from mri_recon.studies.data import StudyData
from mri_recon.studies.landscape import Line
from mri_recon.studies.network_line import LineSettings, measure_line, trained_weights
from mri_recon.studies.output import (
    format_checks,
    format_table,
    save_figure,
    write_csv,
    write_json,
)
from mri_recon.studies.step_size import QuadraticResults, QuadraticSettings, run_quadratic

if TYPE_CHECKING:
    from mri_recon.models.checkpoint import ReconCheckpoint

FILES = (
    "step_size.json",
    "step_size_rates.csv",
    "step_size_quadratic.png",
    "step_size_network.png",
)
RATE_COLUMNS = (
    "condition",
    "method",
    "best_lr_times_L",
    "best_momentum",
    "best_rate",
    "theory_lr_times_L",
    "theory_momentum",
    "theory_rate",
    "rate_at_theory_setting",
)
RATE_TABLE = (
    ("condition", "g"),
    ("method", "s"),
    ("best_lr_times_L", ".3f"),
    ("best_momentum", ".3f"),
    ("best_rate", ".4f"),
    ("theory_lr_times_L", ".3f"),
    ("theory_momentum", ".3f"),
    ("theory_rate", ".4f"),
    ("rate_at_theory_setting", ".4f"),
)

METHOD_LABELS = {
    "gd": "gradient descent",
    "momentum": "momentum (PyTorch's rule)",
    "sutskever": "momentum (Sutskever's rule)",
    "nesterov": "Nesterov",
}
THEORY = {"gd": "gd", "momentum": "heavy-ball", "nesterov": "nesterov"}


def quadratic_figure(results: QuadraticResults, settings: QuadraticSettings) -> Figure:
    """Six panels: f per step, the top coordinate, f after the run against the step size, the
    best rate and step size against the condition number, and the two momentum rules.

    Args:
        results: the quadratic part's results.
        settings: its settings.

    Returns:
        The figure.
    """
    figure = Figure(figsize=(15, 8.5), layout="constrained")
    (curves, top, sweep), (rates, steps, rules) = figure.subplots(2, 3)
    big = results.largest
    for ratio, curve in results.curves.items():
        curves.semilogy(curve["f"], label=f"lr = {ratio:g}/L")
        top.plot(curve["top"][:25], marker=".", label=f"lr = {ratio:g}/L")
    curves.set(xlabel="step", ylabel="f(x_t) - f*", ylim=(None, 1e4))
    curves.set_title(f"gradient descent, condition number {settings.condition:g}")
    curves.legend(fontsize=8)
    top.axhline(0, color="grey", lw=0.5)
    top.set(xlabel="step", ylabel="coordinate along the top eigenvector", ylim=(-0.6, 0.6))
    top.set_title("<= 1/L: monotone; 1/L..2/L: overshoots; > 2/L: grows")
    lrs, values = zip(*results.sweep)
    sweep.loglog(lrs, values, marker=".", color="black")
    sweep.set_ylim(min(values) / 3, 1e3 * values[0])  # diverged runs leave the top of the panel
    for x, text in ((1 / big, "1/L"), (2 / big, "2/L")):
        sweep.axvline(x, color="tab:red", ls="--", lw=1)
        sweep.text(x, 1e2 * values[0], f" {text}", color="tab:red", va="top")
    sweep.set(xlabel="step size", ylabel=f"f after {settings.steps} steps")
    sweep.set_title("final f by step size; L from the Hessian's eigenvalues")
    for name, label in METHOD_LABELS.items():
        rows = [r for r in results.rates if r["method"] == name]
        conditions = [r["condition"] for r in rows]
        style = {"ls": ":", "marker": "x"} if name == "sutskever" else {"marker": "o"}
        rates.semilogx(conditions, [1 - r["best_rate"] for r in rows], label=label, **style)
        steps.semilogx(conditions, [r["best_lr_times_L"] for r in rows], label=label, **style)
        if name in THEORY:
            theory = {"ls": "--", "color": rates.lines[-1].get_color(), "alpha": 0.6}
            rates.plot(conditions, [1 - r["theory_rate"] for r in rows], **theory)
            steps.plot(conditions, [r["theory_lr_times_L"] for r in rows], **theory)
    rates.set_yscale("log")
    rates.set(xlabel="condition number L/mu", ylabel="1 - rate (error shrinks per step)")
    rates.set_title("best on a grid (solid) and theory (dashed)")
    rates.legend(fontsize=8)
    steps.set(xlabel="condition number L/mu", ylabel="best step size x L")
    steps.set_title("best step size, grid (solid) and theory (dashed)")
    at, factor = settings.rule_change
    for name, values in results.rules.items():
        style = {"ls": "--"} if "sutskever" in name else {}
        rules.semilogy(values, label=name, **style)
    rules.axvline(at, color="grey", lw=0.5)
    rules.set(xlabel="step", ylabel="f(x_t)")
    rules.set_title(f"momentum rules: lr x {factor:g} at step {at}")
    rules.legend(fontsize=8)
    return figure


def line_figure(line: Line, source: str) -> Figure:
    """The U-Net's loss along the negative gradient, the quadratic model and its thresholds.

    Args:
        line: the measured line.
        source: where the weights come from (the title).

    Returns:
        The figure.
    """
    figure = Figure(figsize=(8, 5), layout="constrained")
    axes = figure.subplots()
    axes.plot(line.lrs, line.losses, marker=".", color="black", label="measured L1 loss")
    axes.plot(line.lrs, line.model, ls="--", color="tab:blue", label="quadratic model")
    marks = (
        (1 / line.curvature, "1/c", "tab:blue"),
        (2 / line.curvature, "2/c", "tab:blue"),
        (1 / line.sharpness, "1/L", "tab:red"),
        (2 / line.sharpness, "2/L", "tab:red"),
    )
    for x, text, color in marks:
        axes.axvline(x, color=color, ls=":", lw=1)
        axes.text(x, max(line.losses), f" {text}", color=color, va="top")
    axes.axhline(line.loss, color="grey", lw=0.5)
    low, high = min(line.losses), max(line.losses)
    axes.set_ylim(low - 0.05 * (high - low), high + 0.1 * (high - low))
    axes.set(xlabel="step size along the negative gradient", ylabel="L1 loss (normalised images)")
    axes.set_title(f"U-Net loss along the gradient ({source})", fontsize=10)
    axes.legend(fontsize=8)
    return figure


def run_step_size(
    quadratic: QuadraticSettings,
    network: LineSettings,
    data: StudyData,
    checkpoint: ReconCheckpoint | None,
    output_dir: Path,
) -> dict[str, Any]:
    """Runs both parts and writes the files.

    Args:
        quadratic: the quadratic part's settings.
        network: the network part's settings.
        data: the slices.
        checkpoint: a loaded ``mri-recon fit`` checkpoint, or None to train a network briefly.
        output_dir: the folder for ``FILES`` (checked beforehand by the caller).

    Returns:
        The JSON content written (``checks`` among it).
    """
    results = run_quadratic(quadratic)
    net, source = trained_weights(network, data, checkpoint)
    line = measure_line(network, data, net)
    content = {
        "study": "step-size",
        "settings": {"quadratic": asdict(quadratic), "network": asdict(network)},
        "quadratic": {
            "largest_eigenvalue": results.largest,
            "smallest_eigenvalue": results.smallest,
            "one_over_L": 1 / results.largest,
            "two_over_L": 2 / results.largest,
            "curves": {f"{ratio:g}/L": curve for ratio, curve in results.curves.items()},
            "sweep": [{"lr": lr, "f": value} for lr, value in results.sweep],
            "rates": results.rates,
            "momentum_rules": results.rules,
        },
        "checks": results.checks,
        "network": {"data": data.describe(), "weights": source, **asdict(line)},
    }
    write_json(output_dir / FILES[0], content)
    write_csv(output_dir / FILES[1], results.rates, RATE_COLUMNS)
    save_figure(quadratic_figure(results, quadratic), output_dir / FILES[2])
    save_figure(
        line_figure(line, "checkpoint" if checkpoint else "trained briefly"), output_dir / FILES[3]
    )
    return content


def summary(content: dict[str, Any], output_dir: Path) -> str:
    """The text printed at the end.

    Args:
        content: what :func:`run_step_size` wrote.
        output_dir: where it wrote it.

    Returns:
        Thresholds, checks, rates, the line and the files.
    """
    q, line = content["quadratic"], content["network"]
    crossing = line["measured_crossing"]
    crossing_text = "beyond the range" if crossing is None else f"{crossing:.4g}"
    return "\n".join(
        [
            f"quadratic: L = {q['largest_eigenvalue']:.4g}, mu = {q['smallest_eigenvalue']:.4g}, "
            f"1/L = {q['one_over_L']:.4g}, 2/L = {q['two_over_L']:.4g}",
            "theory checks:",
            format_checks(content["checks"]),
            "best step size and rate on a grid against theory (rate: error shrink per step):",
            format_table(q["rates"], RATE_TABLE),
            f"U-Net loss along the gradient on {line['data']}",
            f"  weights: {line['weights']}",
            f"  loss {line['loss']:.5f}, |g| {line['grad_norm']:.4g}, curvature along g "
            f"c = {line['curvature']:.4g}, largest Hessian eigenvalue L = {line['sharpness']:.4g}",
            f"  model minimum 1/c = {1 / line['curvature']:.4g}, measured minimum "
            f"{line['measured_min']:.4g}; model back at the start 2/c = "
            f"{2 / line['curvature']:.4g}, measured {crossing_text}; 2/L = "
            f"{2 / line['sharpness']:.4g}",
            *(f"wrote {output_dir / name}" for name in FILES),
        ]
    )
