"""``mri-recon reconstruct``: a checkpoint and a data folder in, fastMRI submission files out.

For each volume ``DIR/<name>.h5`` it writes ``OUT/<name>.h5`` holding one dataset,
``reconstruction`` (slices, H, W) float32, cropped to the file's target (or recon) size: the
format ``fastmri.utils.save_reconstructions`` writes and the leaderboard reads. Files that carry
a ``mask`` (test files) are reconstructed from their own undersampled k-space; fully sampled
files are undersampled first, deterministically per file, with the same masks validation uses.
Outputs are written atomically and existing ones are skipped, so an interrupted run resumes.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mri_recon.data.fastmri_format import RECONSTRUCTION_KEY, check_challenge
from mri_recon.data.io import atomic_h5, check_outside
from mri_recon.data.slice_dataset import list_volume_files
from mri_recon.inference import (
    reconstruct_volumes,
    resolve_mask,
    select_device,
    volume_dataset,
)
from mri_recon.training.checkpoint import load_checkpoint


@dataclass
class ReconstructSummary:
    """What a run did: files written and files skipped because their output existed."""

    output_path: Path
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)

    def __str__(self) -> str:
        count = len(self.written)
        text = f"wrote {count} reconstruction{'' if count == 1 else 's'} to {self.output_path}"
        if self.skipped:
            text += f" (skipped {len(self.skipped)} that already existed)"
        return text


def data_files(data_path: Path) -> list[Path]:
    """The ``.h5`` volumes of ``data_path``; errors name the command's ``data-path`` argument."""
    try:
        return list_volume_files(data_path)
    except ValueError as error:
        raise ValueError(f"data-path: {str(error).removeprefix('root: ')}") from None


def data_challenge(files: list[Path]) -> str:
    """The challenge of a data folder, from its first file's k-space rank (4-D = multicoil)."""
    with h5py.File(files[0], "r") as hf:
        if "kspace" not in hf:
            raise ValueError(f"{files[0]}: no 'kspace' dataset")
        return "multicoil" if hf["kspace"].ndim == 4 else "singlecoil"


def has_stored_mask(file: Path) -> bool:
    """Whether ``file`` is a test file: undersampled k-space with its ``mask``."""
    with h5py.File(file, "r") as hf:
        return "mask" in hf


def write_extras(
    destination: Path, reconstruction: Any, png: bool, nifti: bool, replace: bool
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


def check_output_folder(output_path: Path, data_path: Path, argument: str = "output-path") -> None:
    """Refuses an output folder inside (or equal to) the input folder, or one that is a file;
    the error names the command-line ``argument`` that gave it."""
    if output_path.exists() and not output_path.is_dir():
        raise ValueError(f"{argument}: {output_path} exists and is not a folder")
    check_outside(output_path, data_path, argument)


def reconstruct(
    data_path: str | Path,
    output_path: str | Path,
    checkpoint: str | Path | None = None,
    challenge: str | None = None,
    mask_type: str | None = None,
    accelerations: Sequence[int] | None = None,
    center_fractions: Sequence[float] | None = None,
    batch_size: int = 8,
    accelerator: str = "auto",
    num_workers: int = 0,
    overwrite: bool = False,
    png: bool = False,
    nifti: bool = False,
    progress: bool = True,
) -> ReconstructSummary:
    """Reconstructs every volume of ``data_path`` into ``output_path``.

    Args:
        data_path: folder of fastMRI ``.h5`` files (test files with a mask, or fully sampled).
        output_path: folder for the outputs; must not be inside ``data_path``.
        checkpoint: an ``mri-recon fit`` checkpoint; ``None`` writes the zero-filled baseline.
        challenge: ``singlecoil`` or ``multicoil``; must match the checkpoint's when both are
            known; by default the checkpoint's, else read from the data.
        mask_type, accelerations, center_fractions: how fully sampled files are undersampled;
            by default the checkpoint's training settings.
        batch_size: slices per forward pass.
        accelerator: ``cpu``, ``gpu`` or ``auto``.
        num_workers: DataLoader workers reading the files.
        overwrite: replace existing outputs instead of skipping them.
        png: also write ``<name>.png``, a montage of the reconstructed slices.
        nifti: also write ``<name>.nii.gz``.
        progress: show a progress bar.
    """
    data_path, output_path = Path(data_path), Path(output_path)
    files = data_files(data_path)
    check_output_folder(output_path, data_path)
    if batch_size < 1:
        raise ValueError(f"batch-size must be >= 1, got {batch_size}")
    loaded = load_checkpoint(checkpoint) if checkpoint is not None else None
    recorded = loaded.data if loaded is not None else None
    trained_on = recorded["challenge"] if recorded else None
    in_data = data_challenge(files)
    challenge = check_challenge(challenge) if challenge else trained_on or in_data
    if trained_on and challenge != trained_on:
        raise ValueError(f"checkpoint {checkpoint}: trained on {trained_on} data, not {challenge}")
    if in_data != challenge:
        raise ValueError(f"data-path: {data_path} holds {in_data} data, not {challenge}")
    mask = resolve_mask(mask_type, accelerations, center_fractions, recorded)
    device = select_device(accelerator)
    if nifti:
        from mri_recon.nifti import require_nibabel

        require_nibabel()  # fail before the first volume, not after it
    summary = ReconstructSummary(output_path)
    todo = set()
    for file in files:
        if (output_path / file.name).exists() and not overwrite:
            summary.skipped.append(output_path / file.name)
            with h5py.File(output_path / file.name, "r") as hf:  # extras asked for only now
                write_extras(output_path / file.name, hf[RECONSTRUCTION_KEY], png, nifti, False)
        else:
            todo.add(file.name)
    if not todo:
        return summary
    if mask is None:
        for file in files:
            if file.name in todo and not has_stored_mask(file):
                raise ValueError(
                    f"{file}: fully sampled; give --accelerations (and --mask-type, "
                    "--center-fractions) to undersample it"
                )
    dataset = volume_dataset(data_path, challenge, mask, files=todo)
    net = loaded.net if loaded is not None else None
    for volume in reconstruct_volumes(net, dataset, device, batch_size, num_workers, progress):
        destination = output_path / volume.fname
        with atomic_h5(destination, overwrite=True) as hf:
            hf.create_dataset(RECONSTRUCTION_KEY, data=volume.reconstruction)
        write_extras(destination, volume.reconstruction, png, nifti, True)
        summary.written.append(destination)
    return summary
