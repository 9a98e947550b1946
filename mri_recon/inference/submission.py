"""fastMRI submission files: one ``OUT/<name>.h5`` per volume holding ``reconstruction``
(slices, H, W) float32, cropped to the target (or recon) size, the format
``fastmri.utils.save_reconstructions`` writes and the leaderboard reads.

Each file is written atomically; finished outputs are kept (so an interrupted run resumes) unless
the caller overwrites them, and optional extras (a PNG montage, a NIfTI copy) go beside them.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from mri_recon.data.fastmri_format import RECONSTRUCTION_KEY
from mri_recon.data.io import atomic_h5, check_outside
from mri_recon.inference.volumes import VolumeResult


@dataclass
class SubmissionSummary:
    """What a run did: files written and files kept because their output existed."""

    output_path: Path
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)

    def __str__(self) -> str:
        count = len(self.written)
        text = f"wrote {count} reconstruction{'' if count == 1 else 's'} to {self.output_path}"
        if self.skipped:
            text += f" (skipped {len(self.skipped)} that already existed)"
        return text


def check_output_folder(output_path: Path, data_path: Path, argument: str = "output-path") -> None:
    """Refuses an output folder inside (or equal to) the input folder, or one that is a file;
    the error names the command-line ``argument`` that gave it."""
    if output_path.exists() and not output_path.is_dir():
        raise ValueError(f"{argument}: {output_path} exists and is not a folder")
    check_outside(output_path, data_path, argument)


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


def keep_finished(
    files: Sequence[Path], summary: SubmissionSummary, png: bool = False, nifti: bool = False
) -> list[Path]:
    """The ``files`` still to reconstruct: those whose output exists are recorded in ``summary``
    as skipped (and given the extras asked for only now)."""
    todo = []
    for file in files:
        destination = summary.output_path / file.name
        if destination.exists():
            summary.skipped.append(destination)
            if png or nifti:
                with h5py.File(destination, "r") as hf:
                    write_extras(destination, hf[RECONSTRUCTION_KEY][()], png, nifti, False)
        else:
            todo.append(file)
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
