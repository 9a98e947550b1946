"""Running the convolution study and writing its text, tables and figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure
from torch import Tensor

from mri_recon.studies.convolution import (
    Geometry,
    WorkedExample,
    gradchecks,
    width_table,
    worked_example,
)
from mri_recon.studies.output import (
    check,
    format_checks,
    format_table,
    save_figure,
    write_csv,
    write_json,
    write_text,
)

FILES = ("convolution.txt", "convolution.json", "convolution_widths.csv", "convolution.png")
WIDTH_COLUMNS = ("layer", "input", "kernel", "stride", "padding", "dilation", "formula",
                 "mri_recon", "torch")  # fmt: skip
X = torch.arange(1.0, 9.0)  # the worked examples' input: 1, 2, ..., 8
KERNEL = torch.tensor([1.0, 2.0, -1.0])
BIAS = 0.5
GEOMETRIES = (Geometry(), Geometry(stride=2), Geometry(padding=1), Geometry(dilation=2))
SHOWN = {("8", "3"), ("8x7", "3x3")}  # (input, kernel) of the width cases printed; CSV: all
EXACT = 1e-12  # float64 sums of small integers: the three ways agree to rounding at most

AUTOGRAD_NOTE = """\
How the backward is supplied. mri_recon.nn.functional.conv1d/conv2d/conv_transpose2d call a
torch.autograd.Function (mri_recon/nn/conv_autograd.py, Conv2dFunction): its forward computes
y = W im2col(x) + b and saves x and W with ctx.save_for_backward; its backward receives dL/dy
and returns one gradient per forward input, computing only those ctx.needs_input_grad asks for:
dL/dx = col2im(W^T dL/dy) (the matrix transpose above, a transposed convolution), dL/dW =
dL/dy im2col(x)^T (the correlation of the input with dL/dy) and dL/db = the sum of dL/dy.
Autograd calls it in place of differentiating the forward's operations, so nothing inside the
forward is recorded; gradcheck compares the Jacobian this backward implies with finite
differences of the forward in float64."""


def _matrix_text(matrix: Tensor) -> str:
    return "\n".join("    [" + " ".join(f"{v:4g}" for v in row.tolist()) + " ]" for row in matrix)


def _vector_text(vector: Tensor) -> str:
    return "[" + " ".join(f"{v:g}" for v in vector.tolist()) + "]"


def example_text(example: WorkedExample) -> str:
    """A worked example as text.

    Args:
        example: the example.

    Returns:
        The matrix, im2col, the three outputs and the gradients, one item per line.
    """
    lines = [
        f"1-D convolution, kernel {_vector_text(example.weight)}, bias {example.bias:g}, "
        f"{example.geometry}, input x = {_vector_text(example.x)}",
        "  as a matrix (one row per output: the kernel shifted by the stride, taps spread by "
        "the dilation, zero-padding columns dropped):",
        _matrix_text(example.matrix),
        "  im2col (one column per output: the input values under the kernel's taps):",
        _matrix_text(example.columns),
        f"  M x + b                            = {_vector_text(example.by_hand)}",
        f"  mri_recon.nn.functional.conv1d     = {_vector_text(example.ours)}",
        f"  torch.nn.functional.conv1d         = {_vector_text(example.torch)}",
        f"  backward with dL/dy = {_vector_text(example.grad_out)}:",
    ]
    for name, grad in example.grads_by_hand.items():
        autograd = example.grads_autograd[name]
        lines.append(f"    {name} by hand {_vector_text(grad)}, autograd {_vector_text(autograd)}")
    return "\n".join(lines)


def matrices_figure(examples: list[WorkedExample]) -> Figure:
    """The convolution matrices as pictures.

    Args:
        examples: the worked examples (one of them strided).

    Returns:
        Each example's matrix with its values, the first one's im2col and the transpose of the
        strided one (its backward: a transposed convolution).
    """
    shown = [(e.matrix, f"M: {e.geometry}") for e in examples]
    shown.append((examples[0].columns, "im2col of x = 1..8 (first M)"))
    strided = next(e for e in examples if e.geometry.stride > 1)
    shown.append((strided.matrix.T, "M^T (stride 2): dL/dx = M^T dL/dy"))
    figure = Figure(figsize=(10, 6), layout="constrained")
    for axes, (matrix, title) in zip(figure.subplots(2, 3).flat, shown):
        axes.imshow(matrix.numpy(), cmap="coolwarm", vmin=-8, vmax=8)
        for (i, j), value in ((index, matrix[index].item()) for index in _cells(matrix)):
            if value != 0:
                axes.text(j, i, f"{value:g}", ha="center", va="center", fontsize=7)
        axes.set_title(title, fontsize=8)
        axes.set(xticks=[], yticks=[])
    return figure


def _cells(matrix: Tensor) -> list[tuple[int, int]]:
    return [(i, j) for i in range(matrix.shape[0]) for j in range(matrix.shape[1])]


def run_convolution(output_dir: Path, quick: bool) -> dict[str, Any]:
    """Computes the worked examples, widths and gradchecks, and writes the files.

    Args:
        output_dir: the folder for ``FILES`` (checked beforehand by the caller).
        quick: fewer width cases and smaller gradcheck tensors.

    Returns:
        The JSON content written (``checks`` among it).
    """
    examples = [worked_example(X, KERNEL, BIAS, geometry) for geometry in GEOMETRIES]
    widths = width_table(quick)
    passed = gradchecks(quick)
    checks = [
        check(
            f"{name} ({example.geometry})",
            error <= EXACT,
            f"largest difference {error:.1e}",
        )
        for example in examples
        for name, error in example.max_errors().items()
    ]
    agree = [row for row in widths if row["formula"] == row["mri_recon"] == row["torch"]]
    checks.append(
        check(
            "output widths: formula = mri_recon layer = torch layer",
            len(agree) == len(widths),
            f"{len(agree)} of {len(widths)} cases",
        )
    )
    checks += [check(f"gradcheck: {name}", ok) for name, ok in passed.items()]
    text = "\n\n".join(
        [
            *(example_text(example) for example in examples),
            "output widths: floor((n + 2 p - d (k - 1) - 1) / s) + 1, transposed: "
            "s (n - 1) - 2 p + d (k - 1) + 1",
            format_table(
                [row for row in widths if (row["input"], row["kernel"]) in SHOWN],
                [(column, "") for column in WIDTH_COLUMNS],
            ),
            f"(the 3-tap cases on 8 and 8x7 inputs; all {len(widths)} are in {FILES[2]})",
            AUTOGRAD_NOTE,
            "checks:\n" + format_checks(checks),
        ]
    )
    with_examples = [
        {"geometry": str(e.geometry), "matrix": e.matrix.tolist(), "output": e.by_hand.tolist()}
        for e in examples
    ]
    content = {"study": "convolution", "examples": with_examples, "widths": widths}
    content["checks"] = checks
    write_text(output_dir / FILES[0], text + "\n")
    write_json(output_dir / FILES[1], content)
    write_csv(output_dir / FILES[2], widths, WIDTH_COLUMNS)
    save_figure(matrices_figure(examples), output_dir / FILES[3])
    content["text"] = text
    return content
