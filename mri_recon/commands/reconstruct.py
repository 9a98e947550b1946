"""``mri-recon reconstruct``: a checkpoint and a data folder in, fastMRI submission files out.

For each volume ``DIR/<name>.h5`` it writes ``OUT/<name>.h5`` holding ``reconstruction``
(``mri_recon.inference.submission``). Files that carry a ``mask`` (test files) are reconstructed
from their own undersampled k-space; fully sampled files are undersampled first, deterministically
per file, with the masks validation uses. Existing sound outputs of mri-recon's are kept, so an
interrupted run resumes; a file in the way that mri-recon did not write stops the run before any
work, untouched. A volume with NaN or infinite values (in its input or in the network's output)
gets no output: it is listed as failed and the exit status is 1, unless ``--skip-bad-files``.

``--checkpoint`` also takes fastMRI's published weights (a U-Net or VarNet state dict, or a
fastMRI Lightning checkpoint): the network is read from the tensors and ``--config RECIPE`` gives
the challenge and masks they were trained with. ``--dicom`` adds one DICOM series per volume,
``OUT/<name>_dicom/`` (``mri_recon.dicom``).
"""

import argparse
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
    from mri_recon.inference.submission import SubmissionSummary


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``reconstruct`` and its options."""
    parser = subparsers.add_parser(
        "reconstruct",
        help="write one fastMRI submission file per volume",
        description="Reconstruct every volume of a data folder with a trained checkpoint "
        "(or the zero-filled baseline) into fastMRI's submission format.",
    )
    method = parser.add_mutually_exclusive_group(required=True)
    method.add_argument(
        "--checkpoint",
        type=Path,
        help="checkpoint written by mri-recon fit, or fastMRI's published U-Net or VarNet "
        "weights (a state dict or fastMRI Lightning checkpoint; give --config for their settings)",
    )
    method.add_argument(
        "--zero-filled",
        action="store_true",
        help="write the zero-filled baseline instead of a model's reconstructions",
    )
    parser.add_argument(
        "--data-path",
        type=Path,
        required=True,
        help="folder of .h5 volumes: fastMRI files or ISMRMRD raw scans (converted in memory)",
    )
    parser.add_argument("--output-path", type=Path, required=True, help="folder for the outputs")
    parser.add_argument(
        "--challenge", choices=CHALLENGES, help="default: the checkpoint's, else the data's"
    )
    parser.add_argument("--config", metavar="RECIPE", help=CONFIG_HELP)
    add_options(parser, MaskOptions)
    add_options(parser, RunOptions)
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="redo every output, even sound ones (files mri-recon did not write are never "
        "replaced, with or without it: a run stops before any work when one is in the way)",
    )
    parser.add_argument("--png", action="store_true", help="also write a PNG preview per volume")
    parser.add_argument("--nifti", action="store_true", help="also write <name>.nii.gz per volume")
    parser.add_argument(
        "--dicom",
        action="store_true",
        help="also write one DICOM series per volume into OUTPUT_PATH/<name>_dicom/ (MR images, "
        "one file per slice, with the input header's patient, study and geometry)",
    )
    parser.add_argument("--anonymize", action="store_true", help=ANONYMIZE_HELP)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Runs ``reconstruct`` from parsed arguments and prints what it wrote."""
    summary = reconstruct(
        args.data_path,
        args.output_path,
        checkpoint=args.checkpoint,
        challenge=args.challenge,
        mask=from_options(MaskOptions, args),
        options=from_options(RunOptions, args),
        overwrite=args.overwrite,
        png=args.png,
        nifti=args.nifti,
        dicom=args.dicom,
        anonymize=args.anonymize,
        recipe=args.config,
    )
    print(summary)
    return 1 if summary.failed and not args.skip_bad_files else 0


def reconstruct(
    data_path: str | Path,
    output_path: str | Path,
    checkpoint: str | Path | None = None,
    challenge: str | None = None,
    mask: MaskOptions | None = None,
    options: RunOptions | None = None,
    overwrite: bool = False,
    png: bool = False,
    nifti: bool = False,
    progress: bool = True,
    dicom: bool = False,
    anonymize: bool = False,
    recipe: str | None = None,
) -> "SubmissionSummary":
    """Reconstructs every volume of ``data_path`` into ``output_path``.

    Args:
        data_path: folder of fastMRI ``.h5`` files (test files with a mask, or fully sampled) or
            ISMRMRD raw scans (read as the fastMRI files they convert to).
        output_path: folder for the outputs; must not be inside ``data_path``.
        checkpoint: an ``mri-recon fit`` checkpoint; ``None`` writes the zero-filled baseline.
        challenge: ``singlecoil`` or ``multicoil``; by default the checkpoint's, else the data's.
        mask: how fully sampled files are undersampled; by default the checkpoint's settings.
        options: batch size, accelerator, DataLoader workers and skipping bad files.
        overwrite: redo every output instead of keeping the sound ones (only mri-recon's own
            files are ever replaced).
        png: also write ``<name>.png``, a montage of the reconstructed slices.
        nifti: also write ``<name>.nii.gz``.
        progress: show a progress bar.
        dicom: also write the DICOM series ``<name>_dicom/``.
        anonymize: leave the patient's and study's identifying fields out of the series.
        recipe: for fastMRI's published weights, the recipe giving their challenge and masks.
    """
    from mri_recon.data.file_check import BadFileError
    from mri_recon.data.io import check_output_folder
    from mri_recon.dicom import SeriesLabel, check_dicom_source
    from mri_recon.inference.preparation import prepare_run
    from mri_recon.inference.submission import (
        SubmissionSummary,
        output_shapes,
        plan_outputs,
        read_output,
        save_submission,
        write_extras,
    )
    from mri_recon.inference.volumes import VolumeFailure

    if anonymize and not dicom:
        raise ValueError("anonymize: applies to the DICOM series; add --dicom")
    output_path = check_output_folder(output_path, "output-path", inputs=[data_path])
    run = prepare_run(data_path, checkpoint, challenge, mask, options, recipe)
    if nifti:
        from mri_recon.nifti import require_nibabel

        require_nibabel()  # fail before the first volume, not after it
    summary = SubmissionSummary(output_path)
    dataset = run.dataset()  # every file checked (and bad ones skipped, if asked) up front
    summary.bad_files = list(dataset.skipped_files)
    shapes = output_shapes(dataset)
    method = run.checkpoint.net_name if run.checkpoint is not None else "zero-filled"
    label = SeriesLabel(method, checkpoint, anonymize) if dicom else None
    for file in list(shapes) if label is not None else ():  # headers DICOM can hold
        try:
            check_dicom_source(file, shapes[file], label)
        except BadFileError as error:
            if not run.options.skip_bad_files:
                raise
            summary.bad_files.append(str(error))
            del shapes[file]
    plan = plan_outputs(shapes, summary, png, nifti, overwrite, dicom)  # nothing in the way
    if run.mask is None:
        for file in plan.todo:
            if not dataset.layouts[file].has_mask:
                raise ValueError(f"{file}: fully sampled; {run.mask_advice} to undersample it")
    for file, destination in ((f, output_path / f.name) for f in shapes):
        if destination in plan.extras:
            reconstruction = read_output(destination, shapes[file])
            write_extras(destination, reconstruction, plan.extras[destination], file, label)
    names = {file.name for file in plan.todo}
    dataset.raw_samples = [s for s in dataset.raw_samples if s.fname.name in names]
    for volume in run.volumes(dataset, progress) if plan.todo else ():
        if isinstance(volume, VolumeFailure):
            summary.failed.append(str(volume))
        else:
            source = run.data_path / volume.fname
            save_submission(volume, summary, source, png, nifti, label)
    return summary
