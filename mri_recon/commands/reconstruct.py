"""``mri-recon reconstruct``: a checkpoint and a data folder in, fastMRI submission files out.

For each volume ``DIR/<name>.h5`` it writes ``OUT/<name>.h5`` holding ``reconstruction``
(``mri_recon.inference.submission``). Files that carry a ``mask`` (test files) are reconstructed
from their own undersampled k-space; fully sampled files are undersampled first, deterministically
per file, with the masks validation uses. Existing sound outputs of mri-recon's are kept, so an
interrupted run resumes; a file in the way that mri-recon did not write stops the run before any
work, untouched. A volume with NaN or infinite values (in its input or in the network's output)
gets no output: it is listed as failed and the exit status is 1, unless ``--skip-bad-files``.
"""

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mri_recon.data.fastmri_format import CHALLENGES
from mri_recon.options import MaskOptions, RunOptions, add_options, from_options

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
    method.add_argument("--checkpoint", type=Path, help="checkpoint written by mri-recon fit")
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
    """
    from mri_recon.data.io import check_output_folder
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

    output_path = check_output_folder(output_path, "output-path", inputs=[data_path])
    run = prepare_run(data_path, checkpoint, challenge, mask, options)
    if nifti:
        from mri_recon.nifti import require_nibabel

        require_nibabel()  # fail before the first volume, not after it
    summary = SubmissionSummary(output_path)
    dataset = run.dataset()  # every file checked (and bad ones skipped, if asked) up front
    summary.bad_files = list(dataset.skipped_files)
    shapes = output_shapes(dataset)
    plan = plan_outputs(shapes, summary, png, nifti, overwrite)  # nothing in the way, or stop
    if run.mask is None:
        for file in plan.todo:
            if not dataset.layouts[file].has_mask:
                raise ValueError(
                    f"{file}: fully sampled; give --accelerations (and --mask-type, "
                    "--center-fractions) to undersample it"
                )
    for file, destination in ((f, output_path / f.name) for f in shapes):
        if destination in plan.extras:
            reconstruction = read_output(destination, shapes[file])
            write_extras(destination, reconstruction, plan.extras[destination])
    names = {file.name for file in plan.todo}
    dataset.raw_samples = [s for s in dataset.raw_samples if s.fname.name in names]
    for volume in run.volumes(dataset, progress) if plan.todo else ():
        if isinstance(volume, VolumeFailure):
            summary.failed.append(str(volume))
        else:
            source = run.data_path / volume.fname
            save_submission(volume, summary, source, png, nifti)
    return summary
