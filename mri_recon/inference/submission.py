"""fastMRI submission files: one ``OUT/<name>.h5`` per volume holding ``reconstruction``
(slices, H, W) float32, cropped to the target (or recon) size, the format
``fastmri.utils.save_reconstructions`` writes and the leaderboard reads.

Each file is written atomically; finished outputs are kept (so an interrupted run resumes) unless
the caller overwrites them, and optional extras (a PNG montage, a NIfTI copy) go beside them. A
kept output is checked first (readable, the right key, shape and type, finite values): one that
another program truncated or left incomplete is redone, and the summary says so.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mri_recon.data.fastmri_format import RECONSTRUCTION_KEY
from mri_recon.data.file_check import BadFileError, open_volume
from mri_recon.data.finite import is_finite
from mri_recon.data.io import atomic_h5, check_outside, check_writable
from mri_recon.data.slice_dataset import SliceDataset
from mri_recon.data.transforms import output_size
from mri_recon.inference.volumes import VolumeResult


@dataclass
class SubmissionSummary:
    """What a run did.

    Attributes:
        output_path: the output folder.
        written: outputs written.
        skipped: outputs kept because they existed and were sound.
        redone: ``"<output>: <problem>"`` for each existing output found unsound and rewritten.
        failed: ``"<fname>: <problem>"`` for each volume that could not be reconstructed (no
            output written).
        bad_files: ``"<file>: <problem>"`` for each input file left out as bad (when skipping).
    """

    output_path: Path
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    redone: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    bad_files: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        count = len(self.written)
        text = f"wrote {count} reconstruction{'' if count == 1 else 's'} to {self.output_path}"
        if self.skipped:
            text += f" (skipped {len(self.skipped)} that already existed)"
        sections = (
            (self.redone, "redid {} existing output(s) that were not sound:"),
            (self.failed, "failed {} volume(s), no output written:"),
            (self.bad_files, "skipped {} bad input file(s):"),
        )
        for lines, title in sections:
            if lines:
                text += "\n" + "\n  ".join([title.format(len(lines)), *lines])
        return text


def check_output_folder(output_path: Path, data_path: Path, argument: str = "output-path") -> None:
    """Refuses an output folder inside (or equal to) the input folder, one that is a file, or
    one that cannot be written; the error names the command-line ``argument`` that gave it."""
    if output_path.exists() and not output_path.is_dir():
        raise ValueError(f"{argument}: {output_path} exists and is not a folder")
    check_outside(output_path, data_path, argument)
    check_writable(output_path, argument, folder=True)


def write_extras(
    destination: Path, reconstruction: np.ndarray, png: bool, nifti: bool, replace: bool
) -> None:
    """Writes the PNG preview and/or NIfTI copy beside ``destination``; with ``replace`` false
    only those that are missing (a rerun adding ``--png`` to finished outputs)."""
    from mri_recon.figures import save_preview_png
    from mri_recon.nifti import save_nifti

    extras = [(png, ".png", save_preview_png), (nifti, ".nii.gz", save_nifti)]
    for wanted, suffix, save in extras:
        path = destination.with_suffix(suffix)
        if wanted and (replace or not path.exists()):
            save(np.asarray(reconstruction), path, overwrite=True)


def read_output(destination: Path, shape: tuple[int, ...]) -> np.ndarray:
    """An existing output's reconstruction, checked to be what this run would write.

    Raises:
        BadFileError: unreadable, no ``reconstruction``, another shape or type, or non-finite
            values.
    """
    with open_volume(destination) as hf:
        if RECONSTRUCTION_KEY not in hf:
            raise BadFileError(destination, f"no '{RECONSTRUCTION_KEY}' dataset")
        reconstruction = hf[RECONSTRUCTION_KEY][()]
    if reconstruction.shape != shape or not np.issubdtype(reconstruction.dtype, np.floating):
        raise BadFileError(
            destination, f"holds {reconstruction.dtype} {reconstruction.shape}, not float {shape}"
        )
    if not is_finite(reconstruction):
        raise BadFileError(destination, "holds NaN or infinite values")
    return reconstruction


def output_shapes(dataset: SliceDataset) -> dict[Path, tuple[int, ...]]:
    """The shape of the output of each file of ``dataset``: (slices, height, width)."""
    recon_sizes = {sample.fname: sample.metadata["recon_size"] for sample in dataset.raw_samples}
    return {
        file: (
            layout.kspace_shape[0],
            *output_size(layout.kspace_shape[-1], layout.target_shape, recon_sizes[file]),
        )
        for file, layout in dataset.layouts.items()
        if file in recon_sizes
    }


def keep_finished(
    shapes: Mapping[Path, tuple[int, ...]],
    summary: SubmissionSummary,
    png: bool = False,
    nifti: bool = False,
) -> list[Path]:
    """The input files still to reconstruct: those without a sound output. Sound outputs are
    recorded in ``summary`` as skipped (and given the extras asked for only now); unsound ones
    (``read_output``) as redone.

    Args:
        shapes: each input file and the shape of the output this run would write for it.
        summary: the run's summary.
        png: add a missing PNG preview to a kept output.
        nifti: add a missing NIfTI copy to a kept output.
    """
    todo = []
    for file, shape in shapes.items():
        destination = summary.output_path / file.name
        if not destination.exists():
            todo.append(file)
            continue
        try:
            reconstruction = read_output(destination, shape)
        except BadFileError as error:
            summary.redone.append(str(error))
            todo.append(file)
            continue
        summary.skipped.append(destination)
        if png or nifti:
            write_extras(destination, reconstruction, png, nifti, False)
    return todo


def save_submission(
    volume: VolumeResult, summary: SubmissionSummary, png: bool = False, nifti: bool = False
) -> Path:
    """Writes ``volume``'s reconstruction (and extras) into ``summary.output_path``."""
    destination = summary.output_path / volume.fname
    with atomic_h5(destination, overwrite=True) as hf:
        hf.create_dataset(RECONSTRUCTION_KEY, data=volume.reconstruction)
    write_extras(destination, volume.reconstruction, png, nifti, True)
    summary.written.append(destination)
    return destination
