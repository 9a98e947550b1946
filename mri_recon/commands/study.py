"""``mri-recon study``: the optimization, normalization and convolution studies.

``step-size``, ``optimizers``, ``normalization`` and ``convolution`` each write PNG plots and
JSON/CSV tables to ``--output-dir`` and print a summary; each is one module of
:mod:`mri_recon.studies`. The network studies read ``--data-path`` (a fastMRI folder), or the demo
dataset in ``demo_output/data`` when ``mri-recon demo`` has built it. Module-level imports stay
light (no torch, numpy or matplotlib): ``_run`` imports what it needs.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from mri_recon.data.fastmri_format import CHALLENGES, split_dir

DEMO_DATA = Path("demo_output/data")
DEFAULT_OUTPUT = Path("study_output")
BUDGET = "budget of every run, in passes over the training slices"
SCALE_OPTIONS = ("train_slices", "val_volumes", "epochs", "batch_size", "chans", "seed")
# name: (help, description, help of --epochs or None for a study without data)
STUDIES = {
    "step-size": (
        "gradient descent and momentum on a quadratic, then the U-Net's loss along a line",
        "Gradient descent on a quadratic as the step size crosses 1/L and 2/L; momentum (both "
        "rules) and Nesterov over condition numbers against theory; then the U-Net's L1 loss "
        "along the gradient against the quadratic model, at several points of a brief training "
        "(or at a checkpoint's weights).",
        "epochs of the brief training when no --checkpoint is given",
    ),
    "optimizers": (
        "full-batch GD, SGD, momentum, Nesterov, RMSprop and Adam on the same budget",
        "Trains the same U-Net on the same data and seed with each optimizer over a grid of step "
        "sizes, for the same number of slice gradients, and measures the minibatch gradient's "
        "noise.",
        BUDGET,
    ),
    "normalization": (
        "none/batch/instance/group/layer norm, input normalization, batch size 1 vs 8",
        "Trains the same U-Net with each normalization layer, with input normalization off, and "
        "with batches of 1, for the same budget; then each norm over a range of learning rates "
        "and three seeds.",
        BUDGET,
    ),
    "convolution": (
        "a convolution as a matrix, output widths, the hand-derived backward",
        "Worked examples of the project's convolutions, the hand's results checked against "
        "mri_recon's and torch's; needs no data.",
        None,
    ),
}


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _add_common(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=DEFAULT_OUTPUT / name,
        help=f"folder for the plots and tables (default: {DEFAULT_OUTPUT / name})",
    )
    parser.add_argument("--quick", action="store_true", help="a small run, under a minute")
    parser.add_argument("--overwrite", action="store_true", help="replace earlier results")
    parser.add_argument(
        "--threads",
        type=_positive_int,
        default=1,
        help="CPU threads for torch (default 1: on a shared machine a second thread can make "
        "every operation wait for a descheduled worker)",
    )


def _add_data(parser: argparse.ArgumentParser, epochs_help: str) -> None:
    parser.add_argument(
        "--data-path",
        type=Path,
        help=f"fastMRI folder with <challenge>_train and <challenge>_val (default: the demo "
        f"dataset in {DEMO_DATA}, built by mri-recon demo)",
    )
    parser.add_argument("--challenge", choices=CHALLENGES, help="default: the one the folder holds")
    parser.add_argument("--train-slices", type=_positive_int, help="training slices used")
    parser.add_argument("--val-volumes", type=_positive_int, help="validation volumes used")
    parser.add_argument("--epochs", type=_positive_float, help=epochs_help)
    parser.add_argument("--batch-size", type=_positive_int, help="slices per step")
    parser.add_argument("--chans", type=_positive_int, help="channels of the U-Net's first level")
    parser.add_argument("--seed", type=int, help="seeds the weights and batch order (default 0)")


def _find_challenge(root: Path, challenge: str | None) -> str:
    """The challenge (``challenge``, or the one found) whose train and val folders ``root`` holds.

    Raises:
        FileNotFoundError, ValueError: one line naming ``data-path`` and the problem.
    """
    if not root.is_dir():
        raise FileNotFoundError(f"data-path: {root} is not a folder")
    candidates = [challenge] if challenge is not None else list(CHALLENGES)
    found = [c for c in candidates if all(split_dir(root, c, s).is_dir() for s in ("train", "val"))]
    if not found:
        names = " or ".join(f"{name}_train and {name}_val" for name in candidates)
        raise ValueError(f"data-path: {root} holds no {names} folders")
    if len(found) > 1:
        raise ValueError(f"data-path: {root} holds both challenges; choose one with --challenge")
    return found[0]


def register(subparsers: Any) -> None:
    """Adds ``study`` and its four studies to the root parser's subcommands.

    Args:
        subparsers: the root parser's ``add_subparsers()`` object.
    """
    parser = subparsers.add_parser(
        "study",
        help="optimization, normalization and convolution studies on the reconstruction task",
        description="Experiments on how step size, optimizer, normalization and convolution shape "
        "training, with the project's own optimizers and layers; plots and tables go to "
        "--output-dir. Defaults take up to about 10 minutes each on a 2-core CPU with the demo "
        "data (build it first: mri-recon demo); --quick under a minute. See docs/studies.md.",
    )
    studies = parser.add_subparsers(dest="study", required=True, metavar="STUDY")
    for name, (text, description, epochs_help) in STUDIES.items():
        study = studies.add_parser(name, help=text, description=description)
        _add_common(study, name)
        if epochs_help is not None:
            _add_data(study, epochs_help)
        study.set_defaults(run=_run)
        if name == "step-size":
            study.add_argument(
                "--checkpoint", type=Path, help="mri-recon fit checkpoint (the line)"
            )
            study.add_argument("--condition-number", type=float, default=100.0, help="L / mu")
            study.add_argument("--dim", type=int, default=50, help="the quadratic's dimension")


def _run(args: argparse.Namespace) -> int:
    """Checks the inputs and the output folder, loads the data, runs the study, prints its
    summary; exit status 1 (with a message) when a check failed."""
    from importlib import import_module

    import torch

    from mri_recon.studies import harness

    study = import_module(f"mri_recon.studies.{args.study.replace('-', '_')}")
    torch.set_num_threads(args.threads)
    options = {}
    if args.study == "step-size":
        options = {"condition": args.condition_number, "dim": args.dim, "checkpoint": None}
        if args.checkpoint is not None:
            from mri_recon.models.checkpoint import load_checkpoint

            options["checkpoint"] = load_checkpoint(args.checkpoint)
    uses_data = hasattr(args, "data_path")
    data_path = (args.data_path or DEMO_DATA) if uses_data else None
    harness.prepare_output(args.output_dir, study.FILES, args.overwrite, data_path)
    if not uses_data:
        text, checks = study.run(args.output_dir, args.quick)
    else:
        if args.data_path is None and not DEMO_DATA.is_dir():
            raise ValueError(
                f"data-path: not given, and the demo dataset {DEMO_DATA} is missing: pass "
                f"--data-path, or build the demo data with mri-recon demo (or python -m data_prep "
                f"demo --output {DEMO_DATA})"
            )
        challenge = _find_challenge(data_path, args.challenge)
        given = {key: getattr(args, key) for key in SCALE_OPTIONS}
        size = replace(
            study.SCALES[args.quick], **{k: v for k, v in given.items() if v is not None}
        )
        data = harness.load_study_data(data_path, challenge, size.train_slices, size.val_volumes)
        print(f"mri-recon study {args.study}: {data.describe()}", flush=True)
        text, checks = study.run(size, data, args.output_dir, args.quick, **options)
    print(text)
    failed = [entry["statement"] for entry in checks if not entry["passed"]]
    if failed:
        print(f"mri-recon study: {len(failed)} check(s) failed: {failed[0]}", file=sys.stderr)
        return 1
    return 0
