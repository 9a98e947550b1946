"""Every check of one volume, including those too costly for every start: ``check-data``'s.

The loaders check a file's structure when they index it (``read_volume_info``) and each slice's
values when they read it. ``scan_file`` runs the structural check, then reads the whole file slice
by slice (never a whole volume in memory) for NaN and infinite values, and compares the header
with the arrays: the encoded width with the k-space's, the reconstruction size with the target's,
and the sample a transform would cut with the image it is cut from.
"""

from dataclasses import dataclass, field
from pathlib import Path

from mri_recon.data.fastmri_format import KSPACE_KEY, MASK_KEY, target_key
from mri_recon.data.file_check import BadFileError, FileLayout, open_volume, read_volume_info
from mri_recon.data.finite import check_finite
from mri_recon.data.transforms import output_size


@dataclass
class ScannedFile:
    """What ``scan_file`` found.

    Attributes:
        path: the file.
        num_slices: its slices (0 when the structural check failed).
        layout: its array shapes, ``None`` when the structural check failed.
        sample_size: the (height, width) of its U-Net samples, ``None`` when unusable.
        problems: one line per problem: ``"<file>: [slice <i>: ]<what>"``.
    """

    path: Path
    num_slices: int = 0
    layout: FileLayout | None = None
    sample_size: tuple[int, int] | None = None
    problems: list[str] = field(default_factory=list)


def _header_problems(metadata: dict, layout: FileLayout) -> list[str]:
    """Header sizes that disagree with the arrays (what the transform would trip over)."""
    problems = []
    rows, cols = layout.kspace_shape[-2:]
    encoded, recon = metadata["encoding_size"], metadata["recon_size"]
    if encoded[1] != cols:
        problems.append(
            f"the header's encoded matrix is {encoded[1]} columns wide but 'kspace' has {cols} "
            "(the phase-encode padding would be misplaced)"
        )
    if layout.target_shape is not None and tuple(layout.target_shape[-2:]) != tuple(recon[:2]):
        height, width = layout.target_shape[-2:]
        problems.append(
            f"the target is {height}x{width} but the header's recon size is {recon[0]}x{recon[1]}"
        )
    height, width = output_size(cols, layout.target_shape, recon)
    if height > rows or width > cols:
        problems.append(
            f"samples of {height}x{width} cannot be cut from the {rows}x{cols} k-space image"
        )
    return problems


def scan_file(path: Path, challenge: str) -> ScannedFile:
    """Checks one volume completely: structure, header against arrays, every value.

    Args:
        path: a fastMRI ``.h5`` file.
        challenge: ``singlecoil`` or ``multicoil``.

    Returns:
        The findings; ``problems`` is empty for a sound file.
    """
    scanned = ScannedFile(path)
    try:
        metadata, scanned.num_slices, scanned.layout = read_volume_info(path, challenge)
    except BadFileError as error:
        scanned.problems.append(str(error))
        return scanned
    header = _header_problems(metadata, scanned.layout)
    scanned.problems += [f"{path}: {problem}" for problem in header]
    if not header:
        cols = scanned.layout.kspace_shape[-1]
        scanned.sample_size = output_size(cols, scanned.layout.target_shape, metadata["recon_size"])
    key = target_key(challenge)
    try:
        with open_volume(path) as hf:
            if MASK_KEY in hf:
                check_finite(path, None, **{MASK_KEY: hf[MASK_KEY][()]})
            for i in range(scanned.num_slices):
                target = hf[key][i] if key in hf else None
                try:
                    check_finite(path, i, **{KSPACE_KEY: hf[KSPACE_KEY][i], key: target})
                except BadFileError as error:
                    scanned.problems.append(str(error))
    except BadFileError as error:  # unreadable data, or a non-finite mask
        scanned.problems.append(str(error))
    return scanned
