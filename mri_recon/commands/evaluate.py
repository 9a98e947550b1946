"""``mri-recon evaluate``: fastMRI's NMSE / PSNR / SSIM, in two forms.

- Folders (``--target-path``, ``--predictions-path``): every reconstruction against its target,
  number for number as ``fastmri.evaluate`` (``mri_recon.evaluation``).
- A checkpoint (``--checkpoint``, ``--data-path``): fully sampled volumes undersampled at each
  acceleration, reconstructed in memory and scored against the zero-filled baseline
  (``mri_recon.inference.comparison``), with a figure per volume on request and, with
  ``--dicom DIR``, the network's reconstruction as a DICOM series per volume and acceleration,
  ``DIR/<name>_<acceleration>x_dicom/``. ``--checkpoint`` also takes fastMRI's published weights,
  with ``--config RECIPE`` for their challenge and masks.

Both print (and write) the report of what they scored, failures listed by name. The exit status
is 1 when a volume failed (missing, unreadable, mis-shaped, NaN or infinite values), unless
``--skip-bad-files``, and whenever no volume was scored at all.
"""

import argparse
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from mri_recon.data.fastmri_format import CHALLENGES
from mri_recon.options import (
    ANONYMIZE_HELP,
    CONFIG_HELP,
    MaskOptions,
    RunOptions,
    add_options,
    from_options,
)

if TYPE_CHECKING:
    from mri_recon.inference.volumes import VolumeResult
    from mri_recon.report import Report

SERIES_END = "x_dicom"  # DIR/<name>_<acceleration>x_dicom/


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``evaluate`` and its options."""
    parser = subparsers.add_parser(
        "evaluate",
        help="score reconstructions (or a checkpoint) with fastMRI's NMSE / PSNR / SSIM",
        description="Either compare a predictions folder with a targets folder (--target-path, "
        "--predictions-path), or reconstruct fully sampled data in memory with a checkpoint and "
        "compare it with the zero-filled baseline (--checkpoint, --data-path).",
    )
    parser.add_argument("--target-path", type=Path, help="folder of target .h5 files")
    parser.add_argument("--predictions-path", type=Path, help="folder of reconstructions")
    parser.add_argument(
        "--challenge", choices=CHALLENGES, help="default: the checkpoint's, else the files'"
    )
    parser.add_argument("--acquisition", help="only volumes with this acquisition attribute")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="checkpoint written by mri-recon fit, or fastMRI's published weights (with --config)",
    )
    parser.add_argument("--data-path", type=Path, help="fully sampled .h5 files with targets")
    parser.add_argument("--config", metavar="RECIPE", help=CONFIG_HELP)
    add_options(parser, MaskOptions)
    add_options(parser, RunOptions)
    parser.add_argument("--output", type=Path, help="write the report here (.json or .csv)")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing report and figures written by mri-recon (files it did not "
        "write are never replaced)",
    )
    parser.add_argument("--figures", type=Path, help="folder for one comparison PNG per volume")
    parser.add_argument(
        "--dicom",
        type=Path,
        metavar="DIR",
        help="with --checkpoint: write the network's reconstruction of each volume at each "
        "acceleration as a DICOM series, DIR/<name>_<acceleration>x_dicom/",
    )
    parser.add_argument("--anonymize", action="store_true", help=ANONYMIZE_HELP)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Runs ``evaluate`` from parsed arguments: prints the table, writes ``--output``."""
    from mri_recon.report import check_report_path, format_report, write_report

    folders = args.target_path is not None or args.predictions_path is not None
    if folders == (args.checkpoint is not None):
        raise ValueError(
            "give either --target-path and --predictions-path, or --checkpoint and --data-path"
        )
    for name in ("config", "dicom") if folders else ():
        if getattr(args, name) is not None:
            raise ValueError(f"{name}: goes with --checkpoint, not with folders of predictions")
    if args.anonymize and args.dicom is None:
        raise ValueError("anonymize: applies to the DICOM series; add --dicom DIR")
    if args.output is not None:
        inputs = (args.target_path, args.predictions_path, args.data_path)
        check_report_path(args.output, args.overwrite, inputs)
    if folders:
        from mri_recon.evaluation import evaluate_folders

        if args.target_path is None or args.predictions_path is None:
            raise ValueError("--target-path and --predictions-path go together")
        report = evaluate_folders(
            args.target_path, args.predictions_path, args.challenge, args.acquisition
        )
    else:
        if args.data_path is None:
            raise ValueError("--checkpoint needs --data-path")
        report = evaluate_checkpoint(
            args.checkpoint,
            args.data_path,
            challenge=args.challenge,
            mask=from_options(MaskOptions, args),
            options=from_options(RunOptions, args),
            figures=args.figures,
            overwrite=args.overwrite,
            recipe=args.config,
            dicom=args.dicom,
            anonymize=args.anonymize,
        )
    print(format_report(report, volumes=folders))
    if args.dicom is not None:
        count = len(report.volumes)  # one per volume scored, at each acceleration
        print(f"wrote {count} DICOM series to {args.dicom} (<name>_<acceleration>x_dicom/)")
    if args.output is not None:
        print(f"wrote {write_report(report, args.output, overwrite=args.overwrite)}")
    return 1 if not report.volumes or (report.failures and not args.skip_bad_files) else 0


def dicom_path(folder: Path, fname: str, acceleration: int) -> Path:
    """Where the series of a volume at one acceleration goes: ``<folder>/<stem>_<a>x_dicom``."""
    return folder / f"{Path(fname).stem}_{acceleration}{SERIES_END}"


def _has_target(file: Path, challenge: str) -> bool:
    """Whether ``file`` has a target; an unreadable file (kept only when skipping bad files)
    is left to the dataset's check, which names it."""
    from mri_recon.data.file_check import BadFileError
    from mri_recon.inference.comparison import has_target

    try:
        return has_target(file, challenge)
    except BadFileError:
        return True


def evaluate_checkpoint(
    checkpoint: str | Path,
    data_path: str | Path,
    challenge: str | None = None,
    mask: MaskOptions | None = None,
    options: RunOptions | None = None,
    figures: str | Path | None = None,
    progress: bool = True,
    overwrite: bool = False,
    recipe: str | None = None,
    dicom: str | Path | None = None,
    anonymize: bool = False,
) -> "Report":
    """Scores a checkpoint against the zero-filled baseline on the fully sampled volumes of
    ``data_path``, at each acceleration.

    Args:
        checkpoint: an ``mri-recon fit`` checkpoint, or fastMRI's published weights.
        data_path: folder of fully sampled fastMRI files with targets (e.g. a val split).
        challenge: by default the checkpoint's.
        mask: accelerations, centre fractions and mask type; by default the checkpoint's.
        options: batch size, accelerator, DataLoader workers and skipping bad files.
        figures: folder for one comparison PNG per volume and acceleration.
        progress: show progress bars.
        overwrite: replace figures and series of an earlier run (mri-recon's own only).
        recipe: for fastMRI's published weights, the recipe giving their challenge and masks.
        dicom: folder for the network's reconstruction of each volume at each acceleration as
            a DICOM series (``dicom_path``), one per volume scored (the report's ``dicom``).
        anonymize: leave the identifying fields out of the series.
    """
    from mri_recon.data.io import check_output, check_output_folder
    from mri_recon.dicom import DICOM, SeriesLabel, check_dicom_source, save_dicom_series
    from mri_recon.figures import FIGURE
    from mri_recon.inference.comparison import (
        Truth,
        compare_with_zero_filled,
        comparison_report,
        figure_path,
        read_target,
    )
    from mri_recon.inference.preparation import prepare_run
    from mri_recon.inference.submission import output_shapes
    from mri_recon.inference.volumes import inference_transform
    from mri_recon.options import MaskSettings

    if figures is not None:
        figures = check_output_folder(figures, "figures", inputs=[data_path])
    if dicom is not None:
        dicom = check_output_folder(dicom, "dicom", inputs=[data_path])
    run = prepare_run(data_path, checkpoint, challenge, mask, options, recipe)
    if run.mask is None:
        raise ValueError(f"accelerations: the checkpoint records none; {run.mask_advice}")
    report = comparison_report([run.checkpoint.net_name], checkpoint=str(checkpoint))
    scored = [file.name for file in run.files if _has_target(file, run.challenge)]
    report.problems += [
        f"{file.name}: no target (test file?); it was not scored"
        for file in run.files
        if file.name not in scored
    ]
    if not scored:
        raise ValueError(f"data-path: {data_path} holds no fully sampled file with a target")
    for fname in scored if figures is not None else ():
        for acceleration in run.mask.accelerations:
            check_output(figure_path(figures, fname, acceleration), "figures", FIGURE, overwrite)
    for fname in scored if dicom is not None else ():
        for acceleration in run.mask.accelerations:
            check_output(dicom_path(dicom, fname, acceleration), "dicom", DICOM, overwrite)
    dataset = run.dataset(scored)  # the files are checked once, for every acceleration
    report.failures += dataset.skipped_files
    label = SeriesLabel(run.checkpoint.net_name, Path(checkpoint), anonymize)
    if dicom is not None:
        report.info["dicom"] = str(dicom)
    for file, shape in output_shapes(dataset).items() if dicom is not None else ():
        check_dicom_source(file, shape, label)  # headers DICOM can hold, before any work
    for acceleration, fraction in zip(run.mask.accelerations, run.mask.center_fractions):
        one = MaskSettings(run.mask.mask_type, [fraction], [acceleration])
        dataset.transform = inference_transform(run.challenge, one, run.checkpoint.net)

        def truth(fname: str, acceleration: int = acceleration) -> Truth:
            target, acquisition = read_target(run.data_path / fname, run.challenge)
            return Truth(target, acquisition, acceleration)

        def save(_: str, volume: "VolumeResult", acceleration: int = acceleration) -> None:
            method = f"{label.method} {acceleration}x"
            series = replace(label, method=method)
            path = dicom_path(dicom, volume.fname, acceleration)
            source = run.data_path / volume.fname
            save_dicom_series(volume.reconstruction, path, source, series, overwrite=True)

        volumes = {run.checkpoint.net_name: run.volumes(dataset, progress)}
        compare_with_zero_filled(volumes, truth, report, figures, save if dicom else None)
    report.failures = list(dict.fromkeys(report.failures))  # a volume fails at each acceleration
    return report
