"""``mri-recon study``: the optimization, normalization and convolution studies.

``step-size``, ``optimizers``, ``normalization`` and ``convolution`` each write PNG plots and
JSON/CSV tables to ``--output-dir`` and print a summary; the logic lives in
:mod:`mri_recon.studies`. The network studies read ``--data-path`` (a fastMRI folder), or the
demo dataset, built when missing as ``mri-recon demo`` builds it. Module-level imports stay
light (no torch, numpy or matplotlib): the run functions import what they need.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mri_recon.data.fastmri_format import CHALLENGES

DEMO_DATA = Path("demo_output/data")
DEFAULT_OUTPUT = Path("study_output")
BUDGET = "budget of every run, in passes over the training slices"
# name: (help, description, help of --epochs or None for a study without data)
STUDIES = {
    "step-size": (
        "gradient descent and momentum on a quadratic, then the U-Net's loss along a line",
        "Gradient descent on a quadratic as the step size crosses 1/L and 2/L; momentum (both "
        "rules) and Nesterov over condition numbers against theory; then the U-Net's L1 loss "
        "along the gradient through trained weights against the quadratic model.",
        "epochs of the brief training when no --checkpoint is given",
    ),
    "optimizers": (
        "full-batch GD, SGD, momentum, Nesterov, RMSprop and Adam on the same budget",
        "Trains the same U-Net on the same data and seed with each optimizer over a grid of step "
        "sizes, for the same number of slice gradients.",
        BUDGET,
    ),
    "normalization": (
        "none/batch/instance/group/layer norm, input normalization, batch size 1 vs 8",
        "Trains the same U-Net with each normalization layer, with input normalization off, and "
        "with batches of 1, for the same budget.",
        BUDGET,
    ),
    "convolution": (
        "a convolution as a matrix, output widths, the hand-derived backward",
        "Worked examples of the project's convolutions, checked against torch and gradcheck; "
        "needs no data.",
        None,
    ),
}


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
        f"dataset in {DEMO_DATA}, built when missing)",
    )
    parser.add_argument("--challenge", choices=CHALLENGES, help="default: the one the folder holds")
    parser.add_argument("--train-slices", type=_positive_int, help="training slices used")
    parser.add_argument("--val-volumes", type=_positive_int, help="validation volumes used")
    parser.add_argument("--epochs", type=float, help=epochs_help)
    parser.add_argument("--batch-size", type=_positive_int, help="slices per step")
    parser.add_argument("--chans", type=_positive_int, help="channels of the U-Net's first level")
    parser.add_argument("--seed", type=int, help="seeds the weights and batch order (default 0)")


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
        "--output-dir. Defaults finish in under 10 minutes each on a 2-core CPU with the demo "
        "data; --quick in under a minute. See docs/studies.md.",
    )
    studies = parser.add_subparsers(dest="study", required=True, metavar="STUDY")
    runs = {
        "step-size": _step_size,
        "optimizers": _optimizers,
        "normalization": _normalization,
        "convolution": _convolution,
    }
    for name, (text, description, epochs_help) in STUDIES.items():
        study = studies.add_parser(name, help=text, description=description)
        _add_common(study, name)
        if epochs_help is not None:
            _add_data(study, epochs_help)
        study.set_defaults(run=runs[name])
        if name == "step-size":
            study.add_argument(
                "--checkpoint", type=Path, help="mri-recon fit checkpoint (the line)"
            )
            study.add_argument("--condition-number", type=float, default=100.0, help="L / mu")
            study.add_argument("--dim", type=int, default=50, help="the quadratic's dimension")


def _setup(args: argparse.Namespace, files: tuple[str, ...]) -> Path | None:
    """Sets the threads, checks the data and output folders, builds the demo data if needed.

    Returns:
        The data folder (None for a study without data).
    """
    import torch

    from mri_recon.studies.data import find_challenge
    from mri_recon.studies.output import check_output_dir

    torch.set_num_threads(args.threads)
    uses_data = hasattr(args, "data_path")
    data_path = args.data_path if uses_data else None
    if data_path is not None:
        find_challenge(data_path, args.challenge)
    if uses_data and data_path is None:
        check_output_dir(args.output_dir, files, args.overwrite, DEMO_DATA)
        from data_prep.demo import build_demo_dataset

        print(f"mri-recon study: demo dataset in {DEMO_DATA}", flush=True)
        print(build_demo_dataset(DEMO_DATA), flush=True)
        return DEMO_DATA
    check_output_dir(args.output_dir, files, args.overwrite, data_path)
    return data_path


def _load(args: argparse.Namespace, data_path: Path) -> Any:
    """The size of this study (defaults or --quick, with the options given) and its data."""
    from mri_recon.studies.data import load_study_data
    from mri_recon.studies.presets import scale

    size = scale(
        args.study, args.quick, train_slices=args.train_slices, val_volumes=args.val_volumes,
        epochs=args.epochs, batch_size=args.batch_size, chans=args.chans, seed=args.seed,
    )  # fmt: skip
    data = load_study_data(data_path, args.challenge, size.train_slices, size.val_volumes)
    print(f"mri-recon study {args.study}: {data.describe()}", flush=True)
    return size, data


def _finish(summary: str, checks: list[dict[str, Any]]) -> int:
    """Prints the summary; exit status 1 (with a message) when a check failed."""
    print(summary)
    failed = [entry["statement"] for entry in checks if not entry["passed"]]
    if failed:
        print(f"mri-recon study: {len(failed)} check(s) failed: {failed[0]}", file=sys.stderr)
        return 1
    return 0


def _step_size(args: argparse.Namespace) -> int:
    from mri_recon.studies.presets import step_size_settings
    from mri_recon.studies.step_size_report import FILES, run_step_size, summary

    checkpoint = None
    if args.checkpoint is not None:
        from mri_recon.models.checkpoint import load_checkpoint

        checkpoint = load_checkpoint(args.checkpoint)
    data_path = _setup(args, FILES)
    size, data = _load(args, data_path)
    quadratic, line = step_size_settings(
        size, len(data.train), args.quick, args.condition_number, args.dim
    )
    content = run_step_size(quadratic, line, data, checkpoint, args.output_dir)
    return _finish(summary(content, args.output_dir), content["checks"])


def _optimizers(args: argparse.Namespace) -> int:
    from mri_recon.studies.optimizers_report import FILES, run_optimizers, summary
    from mri_recon.studies.presets import optimizer_study

    size, data = _load(args, _setup(args, FILES))
    study = optimizer_study(size, len(data.train), args.quick)
    content = run_optimizers(study, data, args.output_dir)
    return _finish(summary(content, args.output_dir), content["checks"])


def _normalization(args: argparse.Namespace) -> int:
    from mri_recon.studies.normalization_report import FILES, run_normalization, summary
    from mri_recon.studies.presets import normalization_study

    size, data = _load(args, _setup(args, FILES))
    study = normalization_study(size, len(data.train), args.quick)
    content = run_normalization(study, data, args.output_dir)
    return _finish(summary(content, args.output_dir), content["checks"])


def _convolution(args: argparse.Namespace) -> int:
    from mri_recon.studies.convolution_report import FILES, run_convolution

    _setup(args, FILES)
    content = run_convolution(args.output_dir, args.quick)
    files = "\n".join(f"wrote {args.output_dir / name}" for name in FILES)
    return _finish(f"{content['text']}\n{files}", content["checks"])
