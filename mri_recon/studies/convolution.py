"""The convolution study: worked examples of a convolution as a matrix, output widths, gradients.

- A 1-D convolution is a matrix with one row per output: the kernel, shifted along the row by
  the stride, its taps spread by the dilation, over the zero-padded input. The kernel enters
  unflipped: deep learning's "convolution" is cross-correlation, ``y_i = sum_j w_j x[i s + j d -
  p]`` (a convolution in the signal-processing sense flips the kernel). Built by hand here, the
  matrix must give ``mri_recon.nn.functional.conv1d`` and ``torch.nn.functional.conv1d``.
- Output widths follow ``floor((n + 2 p - d (k - 1) - 1) / s) + 1`` (transposed: ``s (n - 1) -
  2 p + d (k - 1) + 1``), checked against the shapes the layers return, in 1-D and 2-D.
- The backward: with ``y = M x + b``, ``dL/dx = M^T dL/dy``, ``dL/dw_j`` is the correlation of
  the input with ``dL/dy`` (``im2col(x) @ dL/dy``) and ``dL/db`` the sum of ``dL/dy``; derived by
  hand and set against autograd through the project's ``autograd.Function``.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor, nn

import mri_recon.nn
from mri_recon.nn import functional as scratch
from mri_recon.studies.harness import check, format_checks, table, write_files

FILES = ("convolution.txt", "convolution.json", "convolution_widths.csv", "convolution.png")
WIDTHS = "layer input kernel stride padding dilation formula mri_recon torch"
X = torch.arange(1.0, 9.0, dtype=torch.float64)  # the worked examples' input: 1, 2, ..., 8
KERNEL = torch.tensor([1.0, 2.0, -1.0], dtype=torch.float64)
BIAS = 0.5
SHOWN = {("8", "3"), ("8x7", "3x3")}  # (input, kernel) of the width cases printed; CSV: all
EXACT = 1e-12  # float64 sums of small integers: the ways agree to rounding at most
AUTOGRAD_NOTE = """\
The backward: mri_recon.nn.functional's convolutions call a torch.autograd.Function (Conv2dFunction
in mri_recon/nn/conv_autograd.py) whose forward, y = W im2col(x) + b, saves x and W with
ctx.save_for_backward, and whose backward returns dL/dx = col2im(W^T dL/dy) (M^T above), dL/dW =
dL/dy im2col(x)^T and dL/db = sum dL/dy, only those ctx.needs_input_grad asks for. The tests check
it with gradcheck against finite differences in float64 (tests/nn/test_conv_functional.py)."""


@dataclass(frozen=True)
class Geometry:
    """Stride, padding and dilation of a 1-D convolution."""

    stride: int = 1
    padding: int = 0
    dilation: int = 1

    def __str__(self) -> str:
        return f"stride {self.stride}, padding {self.padding}, dilation {self.dilation}"


GEOMETRIES = (Geometry(), Geometry(stride=2), Geometry(padding=1), Geometry(dilation=2))


def output_width(length: int, kernel: int, geometry: Geometry) -> int:
    """The number of kernel windows in the padded input: ``floor((n + 2 p - d (k - 1) - 1) / s)
    + 1`` for input length ``n`` and kernel length ``k``."""
    span = geometry.dilation * (kernel - 1) + 1  # the kernel's extent, taps spread by dilation
    return (length + 2 * geometry.padding - span) // geometry.stride + 1


def conv_matrix(weight: Tensor, length: int, geometry: Geometry) -> Tensor:
    """``M`` with ``conv1d(x, weight) = M x``, (output width, length): row ``i`` holds tap ``j``
    of the kernel (unflipped) at input position ``i s + j d - p``; taps on the padding drop out."""
    width = output_width(length, weight.numel(), geometry)
    matrix = weight.new_zeros(width, length)
    for i, j in itertools.product(range(width), range(weight.numel())):
        column = i * geometry.stride + j * geometry.dilation - geometry.padding
        if 0 <= column < length:
            matrix[i, column] = weight[j]
    return matrix


def windows(x: Tensor, kernel: int, geometry: Geometry) -> Tensor:
    """im2col, (k, output width): the input values under each tap for each output, so that
    ``conv1d(x, w) = w @ windows(x)``, the product the project's convolutions compute."""
    padded = F.pad(x, (geometry.padding, geometry.padding))
    end = (output_width(x.numel(), kernel, geometry) - 1) * geometry.stride + 1
    starts = [j * geometry.dilation for j in range(kernel)]
    return torch.stack([padded[start : start + end : geometry.stride] for start in starts])


def worked_example(geometry: Geometry) -> dict[str, Any]:
    """The convolution of ``X`` with ``KERNEL`` and ``BIAS`` at ``geometry``, in float64: ``M``,
    im2col, the ``forward`` by hand and by the two libraries, and the ``backward`` for ``dL/dy`` =
    1, 2, 3, ... (one per output): each gradient by hand and by autograd."""
    matrix, columns = conv_matrix(KERNEL, X.numel(), geometry), windows(X, KERNEL.numel(), geometry)
    grad_out = torch.arange(1.0, matrix.shape[0] + 1, dtype=torch.float64)
    bias = torch.tensor([BIAS], dtype=torch.float64)
    x, w, b = (t.clone().requires_grad_() for t in (X, KERNEL, bias))
    ours = scratch.conv1d(x[None, None], w[None, None], b, **asdict(geometry))[0, 0]
    ours.backward(grad_out)
    reference = F.conv1d(X[None, None], KERNEL[None, None], bias, **asdict(geometry))[0, 0]
    forward = {"M x + b": matrix @ X + BIAS, "mri_recon.nn.functional.conv1d": ours.detach()}
    return {
        "geometry": geometry, "matrix": matrix, "columns": columns, "grad_out": grad_out,
        "forward": forward | {"torch.nn.functional.conv1d": reference},
        "backward": {"dL/dx": (matrix.T @ grad_out, x.grad), "dL/dw": (columns @ grad_out, w.grad),
                     "dL/db": (grad_out.sum().reshape(1), b.grad)},
    }  # fmt: skip


def example_checks(example: dict[str, Any]) -> list[dict[str, Any]]:
    """The hand's forward against both libraries', and each gradient by hand against autograd."""
    (_, by_hand), *libraries = example["forward"].items()
    pairs = [(f"forward, hand vs {name.split('.')[0]}", by_hand, y) for name, y in libraries]
    pairs += [(f"{name}, hand vs autograd", *grads) for name, grads in example["backward"].items()]
    return [
        check(f"{name} ({example['geometry']})", error <= EXACT, f"largest difference {error:.1e}")
        for name, error in ((n, float((a - b).abs().max())) for n, a, b in pairs)
    ]


def width_table(quick: bool = False) -> list[dict[str, Any]]:
    """Output sizes by formula against those of ``mri_recon.nn``'s and ``torch.nn``'s ``Conv1d``,
    ``Conv2d`` and ``ConvTranspose2d`` (``quick``: fewer cases), one row per case."""
    lengths, kernels = ((8,), (1, 3)) if quick else ((7, 8, 16), (1, 2, 3, 5))
    sizes, product = ((8, 7),) if quick else ((8, 7), (16, 11)), itertools.product
    cases = [
        ("Conv1d", (n,), (k,), *spd)
        for n, k, *spd in product(lengths, kernels, (1, 2, 3), (0, 1, 2), (1, 2))
    ]
    cases += [
        ("Conv2d", hw, k, *spd)
        for hw, k, *spd in product(sizes, ((3, 3), (2, 3)), (1, 2), (0, 1), (1, 2))
    ]
    cases += [("ConvTranspose2d", hw, (k, k), s, p, 1) for hw, k, s, p in
              product(sizes, (2, 3), (1, 2), (0, 1))]  # fmt: skip
    rows = []
    for layer, size, kernel, s, p, d in cases:
        if layer == "ConvTranspose2d":
            formula = [scratch.conv_transpose_output_size(n, k, s, p) for n, k in zip(size, kernel)]
            args = {"stride": s, "padding": p}
        else:
            formula = [output_width(n, k, Geometry(s, p, d)) for n, k in zip(size, kernel)]
            args = {"stride": s, "padding": p, "dilation": d}
        if min(formula) < 1:
            continue
        x, k = torch.zeros(1, 1, *size), kernel if len(kernel) > 1 else kernel[0]
        ours, theirs = (getattr(m, layer)(1, 1, k, **args)(x).shape[2:] for m in (mri_recon.nn, nn))
        values = (layer, size, kernel, s, p, d, formula, ours, theirs)
        rows.append({key: v if isinstance(v, str | int) else "x".join(map(str, v))
                     for key, v in zip(WIDTHS.split(), values)})  # fmt: skip
    return rows


def example_text(example: dict[str, Any]) -> str:
    """A worked example as text: the matrix, im2col, the three outputs and the gradients."""

    def vector(values: Tensor) -> str:
        return "[" + " ".join(f"{v:g}" for v in values.tolist()) + "]"

    def rows(matrix: Tensor) -> list[str]:
        return ["    [" + " ".join(f"{v:4g}" for v in row) + " ]" for row in matrix.tolist()]

    return "\n".join([
        f"1-D convolution, kernel {vector(KERNEL)}, bias {BIAS:g}, {example['geometry']}, input "
        f"x = {vector(X)}",
        "  as a matrix (one row per output: the kernel, unflipped as in cross-correlation, shifted "
        "by the stride, taps spread by the dilation, zero-padding columns dropped):",
        *rows(example["matrix"]),
        "  im2col (one column per output: the input values under the kernel's taps):",
        *rows(example["columns"]),
        *(f"  {name:<34} = {vector(output)}" for name, output in example["forward"].items()),
        f"  backward with dL/dy = {vector(example['grad_out'])}:",
        *(f"    {name} by hand {vector(hand)}, autograd {vector(autograd)}"
          for name, (hand, autograd) in example["backward"].items()),
    ])  # fmt: skip


def matrices_figure(examples: list[dict[str, Any]]) -> Figure:
    """Each example's matrix with its values, the first one's im2col and the transpose of the
    strided one (its backward: a transposed convolution)."""
    shown = [(e["matrix"], f"M: {e['geometry']}") for e in examples]
    shown.append((examples[0]["columns"], "im2col of x = 1..8 (first M)"))
    strided = next(e for e in examples if e["geometry"].stride > 1)
    shown.append((strided["matrix"].T, "M^T (stride 2): dL/dx = M^T dL/dy"))
    figure = Figure(figsize=(10, 6), layout="constrained")
    for axes, (matrix, title) in zip(figure.subplots(2, 3).flat, shown):
        axes.imshow(matrix.numpy(), cmap="coolwarm", vmin=-8, vmax=8)
        for (i, j), value in zip(itertools.product(*map(range, matrix.shape)), matrix.flatten()):
            if value != 0:
                axes.text(j, i, f"{value:g}", ha="center", va="center", fontsize=7)
        axes.set_title(title, fontsize=8)
        axes.set(xticks=[], yticks=[])
    return figure


def run(output_dir: Path, quick: bool) -> tuple[str, list[dict[str, Any]]]:
    """Computes the worked examples and widths (``quick``: fewer), writes ``FILES``
    (``output_dir`` checked beforehand); returns the printed text and the checks."""
    examples = [worked_example(geometry) for geometry in GEOMETRIES]
    widths = width_table(quick)
    checks = [entry for example in examples for entry in example_checks(example)]
    agree = [row for row in widths if row["formula"] == row["mri_recon"] == row["torch"]]
    statement = "output widths: formula = mri_recon layer = torch layer"
    checks.append(
        check(statement, len(agree) == len(widths), f"{len(agree)} of {len(widths)} cases")
    )
    shown = [row for row in widths if (row["input"], row["kernel"]) in SHOWN]
    text = "\n\n".join([
        *(example_text(example) for example in examples),
        "output widths: floor((n + 2 p - d (k - 1) - 1) / s) + 1, transposed: "
        "s (n - 1) - 2 p + d (k - 1) + 1",
        table(shown, WIDTHS),
        f"(the 3-tap cases on 8 and 8x7 inputs; all {len(widths)} are in {FILES[2]})",
        AUTOGRAD_NOTE,
        format_checks(checks),
    ])  # fmt: skip
    content = {"study": "convolution", "checks": checks, "widths": widths, "examples": [
        {"geometry": str(e["geometry"]), "matrix": e["matrix"].tolist(),
         "output": e["forward"]["M x + b"].tolist()} for e in examples]}  # fmt: skip
    figure = matrices_figure(examples)
    wrote = write_files(output_dir, FILES, text + "\n", content, (widths, WIDTHS.split()), figure)
    return "\n".join([text, *wrote]), checks
