"""fastMRI submission files: one ``OUT/<name>.h5`` per volume holding ``reconstruction``
(slices, H, W) float32, cropped to the target (or recon) size, the format
``fastmri.utils.save_reconstructions`` writes and the leaderboard reads, plus the root attributes
``written_by`` (mri-recon's mark) and ``source`` (the input file).

Each file is written atomically, with optional extras beside it (a PNG montage, a NIfTI copy, a
DICOM series folder, ``<name>_dicom/``, see ``mri_recon.dicom``).
Before any work every file a run may write is looked at (``plan_outputs``): anything in the way
that mri-recon did not write as that kind of output stops the run (nothing is touched); its own
sound outputs are kept (so an interrupted run resumes) unless overwritten; its own unsound ones
(another shape, NaN, a truncated extra) are redone, and the summary says so.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mri_recon.data.fastmri_format import RECONSTRUCTION_KEY
from mri_recon.data.file_check import BadFileError, open_volume
from mri_recon.data.finite import is_finite
from mri_recon.data.io import atomic_h5, check_owned
from mri_recon.data.slice_dataset import SliceDataset
from mri_recon.dicom import DICOM, SERIES_SUFFIX, SeriesLabel
from mri_recon.figures import PREVIEW
from mri_recon.inference.volumes import VolumeResult
from mri_recon.nifti import NIFTI

RECONSTRUCTION = "reconstruction"  # the kind of output (mark) of submission files
# kind of each optional extra -> how its name ends in place of the output's ".h5"
EXTRAS = {PREVIEW: ".png", NIFTI: ".nii.gz", DICOM: SERIES_SUFFIX}


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


def extra_paths(destination: Path, png: bool, nifti: bool, dicom: bool = False) -> dict[Path, str]:
    """The extras asked for beside the output ``destination``, with their kinds."""
    wanted = {PREVIEW: png, NIFTI: nifti, DICOM: dicom}
    return {
        destination.with_name(destination.stem + end): kind
        for kind, end in EXTRAS.items()
        if wanted[kind]
    }


def extra_problem(path: Path, reconstruction: np.ndarray) -> str | None:
    """Why an existing extra of mri-recon's is not sound (``None`` when it is): unreadable, a
    NIfTI copy of another shape, or a DICOM series that does not hold the reconstruction."""
    if path.is_dir():
        from mri_recon.dicom import series_problem

        return series_problem(path, reconstruction)
    try:
        if path.suffix == ".png":
            from PIL import Image

            with Image.open(path) as image:
                image.load()
            return None
        from mri_recon.nifti import require_nibabel

        shape = require_nibabel().load(path).get_fdata().shape
    except Exception as error:  # truncated or damaged, whatever the library says
        return f"unreadable ({type(error).__name__})"
    expected = reconstruction.shape[::-1]
    return None if shape == expected else f"holds shape {shape}, not {expected}"


def write_extras(
    destination: Path,
    reconstruction: np.ndarray,
    paths: Mapping[Path, str],
    source: Path | None = None,
    label: SeriesLabel | None = None,
) -> None:
    """Writes the extras ``paths`` (from ``extra_paths``) of ``destination``'s reconstruction,
    replacing mri-recon's own files there. A DICOM series needs the input file ``source`` (its
    header and geometry) and the ``label`` of how it was made."""
    from mri_recon.dicom import save_dicom_series
    from mri_recon.figures import save_preview_png
    from mri_recon.nifti import save_nifti

    for path, kind in paths.items():
        if kind == DICOM:
            if source is None or label is None:
                raise ValueError(f"{path}: a DICOM series needs its source file and label")
            save_dicom_series(reconstruction, path, source, label, overwrite=True)
            continue
        save = save_preview_png if kind == PREVIEW else save_nifti
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
    return {
        file: (dataset.layouts[file].kspace_shape[0], *size)
        for file, size in dataset.sample_sizes().items()
    }


@dataclass
class OutputPlan:
    """What a run will write, decided before any work (``plan_outputs``).

    Attributes:
        todo: the input files to reconstruct.
        extras: for each kept output, the extras to write from it (missing or unsound ones).
    """

    todo: list[Path]
    extras: dict[Path, dict[Path, str]]


def plan_outputs(
    shapes: Mapping[Path, tuple[int, ...]],
    summary: SubmissionSummary,
    png: bool = False,
    nifti: bool = False,
    overwrite: bool = False,
    dicom: bool = False,
) -> OutputPlan:
    """What to write, decided before any work.

    Every output file this run may write (``<name>.h5`` and the extras asked for) that exists
    must be mri-recon's own output of that kind. Then, unless ``overwrite`` (every file is
    redone): a sound output (``read_output``) is kept and recorded as skipped, with its missing
    or unsound extras to be written from it; an unsound one is recorded as redone.

    Args:
        shapes: each input file and the shape of the output this run would write for it.
        summary: the run's summary.
        png: the PNG previews are asked for.
        nifti: the NIfTI copies are asked for.
        overwrite: redo every output, sound or not (mri-recon's own files only).
        dicom: the DICOM series are asked for.

    Raises:
        ForeignFileError: a file in the way that mri-recon did not write; nothing is touched.
    """
    destinations = {file: summary.output_path / file.name for file in shapes}
    check_owned(destinations.values(), RECONSTRUCTION, "output-path")
    extras = {file: extra_paths(path, png, nifti, dicom) for file, path in destinations.items()}
    for kind in EXTRAS:
        paths = [path for wanted in extras.values() for path, k in wanted.items() if k == kind]
        check_owned(paths, kind, "output-path")
    plan = OutputPlan(todo=list(shapes) if overwrite else [], extras={})
    for file, shape in shapes.items() if not overwrite else ():
        destination = destinations[file]
        if not destination.exists():
            plan.todo.append(file)
            continue
        try:
            reconstruction = read_output(destination, shape)
        except BadFileError as error:
            summary.redone.append(str(error))
            plan.todo.append(file)
            continue
        summary.skipped.append(destination)
        stale = {}
        for path, kind in extras[file].items():
            problem = extra_problem(path, reconstruction) if path.exists() else None
            if problem is not None:
                summary.redone.append(f"{path}: {problem}")
            if problem is not None or not path.exists():
                stale[path] = kind
        if stale:
            plan.extras[destination] = stale
    return plan


def save_submission(
    volume: VolumeResult,
    summary: SubmissionSummary,
    source: Path,
    png: bool = False,
    nifti: bool = False,
    dicom: SeriesLabel | None = None,
) -> Path:
    """Writes ``volume``'s reconstruction of the input file ``source`` (and the extras asked
    for: a DICOM series labelled ``dicom`` when given) into ``summary.output_path``, replacing
    mri-recon's own files there."""
    destination = summary.output_path / volume.fname
    with atomic_h5(destination, RECONSTRUCTION, overwrite=True, source=source.resolve()) as hf:
        hf.create_dataset(RECONSTRUCTION_KEY, data=volume.reconstruction)
    paths = extra_paths(destination, png, nifti, dicom is not None)
    write_extras(destination, volume.reconstruction, paths, source, dicom)
    summary.written.append(destination)
    return destination
