"""The ``mri-recon`` command: parses arguments and dispatches to the commands' logic.

Commands:
    fit, validate, test    training and validation through LightningCLI (``mri_recon.training.cli``)
    demo                   the main job on the bundled default data
    study                  the optimization, normalization and convolution studies
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mri_recon.commands import study
from mri_recon.data.fastmri_format import CHALLENGES
from mri_recon.data.masks import MASK_TYPES
from mri_recon.inference import ACCELERATORS

LIGHTNING_COMMANDS = {
    "fit": "train a model: mri-recon fit --config configs/<name>.yaml [--section.key value ...]",
    "validate": "validate a checkpoint: mri-recon validate --config ... --ckpt_path CKPT",
    "test": "score the test loader: mri-recon test --config ... --ckpt_path CKPT",
}


def _demo(args: argparse.Namespace) -> int:
    from mri_recon.demo import run_demo, summary_text

    print(summary_text(run_demo(args.output_dir, overwrite=args.overwrite)))
    return 0


def _reconstruct(args: argparse.Namespace) -> int:
    from mri_recon.reconstruct import reconstruct

    summary = reconstruct(
        args.data_path,
        args.output_path,
        checkpoint=args.checkpoint,
        challenge=args.challenge,
        mask_type=args.mask_type,
        accelerations=args.accelerations,
        center_fractions=args.center_fractions,
        batch_size=args.batch_size,
        accelerator=args.accelerator,
        num_workers=args.num_workers,
        overwrite=args.overwrite,
        png=args.png,
        nifti=args.nifti,
    )
    print(summary)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from mri_recon.report import check_report_path

    folders = args.target_path is not None or args.predictions_path is not None
    if folders == (args.checkpoint is not None):
        raise ValueError(
            "give either --target-path and --predictions-path, or --checkpoint and --data-path"
        )
    if args.output is not None:
        inputs = (args.target_path, args.predictions_path, args.data_path)
        check_report_path(args.output, args.overwrite, inputs)
    if folders:
        from mri_recon.evaluate import evaluate_folders, format_table, write_report

        if args.target_path is None or args.predictions_path is None:
            raise ValueError("--target-path and --predictions-path go together")
        report = evaluate_folders(
            args.target_path, args.predictions_path, args.challenge, args.acquisition
        )
        print(format_table(report))
        if args.output is not None:
            print(f"wrote {write_report(report, args.output, overwrite=args.overwrite)}")
        return 0
    from mri_recon.comparison import format_comparison, write_comparison
    from mri_recon.evaluate_checkpoint import evaluate_checkpoint

    if args.data_path is None:
        raise ValueError("--checkpoint needs --data-path")
    report = evaluate_checkpoint(
        args.checkpoint,
        args.data_path,
        accelerations=args.accelerations,
        center_fractions=args.center_fractions,
        mask_type=args.mask_type,
        batch_size=args.batch_size,
        accelerator=args.accelerator,
        num_workers=args.num_workers,
        figures=args.figures,
    )
    print(format_comparison(report))
    if args.output is not None:
        print(f"wrote {write_comparison(report, args.output, overwrite=args.overwrite)}")
    return 0


def _add_mask_arguments(parser: argparse.ArgumentParser, default_text: str) -> None:
    parser.add_argument("--mask-type", choices=MASK_TYPES, help=f"mask type ({default_text})")
    parser.add_argument(
        "--accelerations", type=int, nargs="+", help=f"undersampling factors ({default_text})"
    )
    parser.add_argument(
        "--center-fractions",
        type=float,
        nargs="+",
        help="fully sampled centre fraction per acceleration (default: 0.08 for 4x, 0.04 for 8x)",
    )


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=int, default=8, help="slices per forward pass")
    parser.add_argument(
        "--accelerator", choices=ACCELERATORS, default="auto", help="where the model runs"
    )
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``mri-recon``."""
    parser = argparse.ArgumentParser(
        prog="mri-recon", description="Accelerated MRI reconstruction on fastMRI data."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in LIGHTNING_COMMANDS.items():  # parsed by LightningCLI, see main()
        commands.add_parser(name, help=text, add_help=False)
    recon = commands.add_parser(
        "reconstruct",
        help="write one fastMRI submission file per volume",
        description="Reconstruct every volume of a data folder with a trained checkpoint "
        "(or the zero-filled baseline) into fastMRI's submission format.",
    )
    method = recon.add_mutually_exclusive_group(required=True)
    method.add_argument("--checkpoint", type=Path, help="checkpoint written by mri-recon fit")
    method.add_argument(
        "--zero-filled",
        action="store_true",
        help="write the zero-filled baseline instead of a model's reconstructions",
    )
    recon.add_argument("--data-path", type=Path, required=True, help="folder of .h5 volumes")
    recon.add_argument("--output-path", type=Path, required=True, help="folder for the outputs")
    recon.add_argument(
        "--challenge", choices=CHALLENGES, help="default: the checkpoint's, else the data's"
    )
    _add_mask_arguments(recon, "for fully sampled files; default: the checkpoint's")
    _add_run_arguments(recon)
    recon.add_argument("--png", action="store_true", help="also write a PNG preview per volume")
    recon.add_argument("--nifti", action="store_true", help="also write <name>.nii.gz per volume")
    recon.set_defaults(run=_reconstruct)

    evaluate = commands.add_parser(
        "evaluate",
        help="score reconstructions (or a checkpoint) with fastMRI's NMSE / PSNR / SSIM",
        description="Either compare a predictions folder with a targets folder (--target-path, "
        "--predictions-path), or reconstruct fully sampled data in memory with a checkpoint and "
        "compare it with the zero-filled baseline (--checkpoint, --data-path).",
    )
    evaluate.add_argument("--target-path", type=Path, help="folder of target .h5 files")
    evaluate.add_argument("--predictions-path", type=Path, help="folder of reconstructions")
    evaluate.add_argument("--challenge", choices=CHALLENGES, help="default: from the files")
    evaluate.add_argument("--acquisition", help="only volumes with this acquisition attribute")
    evaluate.add_argument("--checkpoint", type=Path, help="checkpoint written by mri-recon fit")
    evaluate.add_argument("--data-path", type=Path, help="fully sampled .h5 files with targets")
    _add_mask_arguments(evaluate, "default: the checkpoint's")
    _add_run_arguments(evaluate)
    evaluate.add_argument("--output", type=Path, help="write the report here (.json or .csv)")
    evaluate.add_argument("--figures", type=Path, help="folder for one comparison PNG per volume")
    evaluate.set_defaults(run=_evaluate)

    demo = commands.add_parser(
        "demo", help="run the main job on the bundled default data (MNI152-based simulation)"
    )
    demo.add_argument(
        "--output-dir",
        type=Path,
        default=Path("demo_output"),
        help="folder for everything the demo writes (default: ./demo_output)",
    )
    demo.add_argument("--overwrite", action="store_true", help="rebuild outputs that already exist")
    demo.set_defaults(run=_demo)
    study.register(commands)
    return parser


def one_line(error: BaseException) -> str:
    """The error's message on one line. An error re-raised from a DataLoader worker carries the
    worker's traceback in its message; its last line holds the original message."""
    lines = str(error).strip().splitlines() or [type(error).__name__]
    if len(lines) > 1 and "Original Traceback" in lines[1]:
        return lines[-1].split(": ", 1)[-1]
    return " ".join(line.strip() for line in lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mri-recon`` console script."""
    args_given = argv is not None
    argv = list(argv if args_given else sys.argv[1:])
    if argv and argv[0] in LIGHTNING_COMMANDS:
        # LightningCLI reads sys.argv itself when it is the source (it warns when given both).
        return _run_lightning(argv[0], argv if args_given else None)
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, OSError, ModuleNotFoundError) as error:
        print(f"mri-recon {args.command}: error: {one_line(error)}", file=sys.stderr)
        return 2


def _run_lightning(command: str, argv: list[str] | None) -> int:
    from mri_recon.training.cli import cli_main

    try:
        cli_main(argv)
    except (ValueError, OSError, ModuleNotFoundError) as error:
        print(f"mri-recon {command}: error: {one_line(error)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
