"""Every check of one volume, including those too costly for every start: ``check-data``'s.

The loaders check a file's structure when they index it (``read_volume_info``: arrays, header
against arrays, attributes) and each slice's values when they read it. ``scan_file`` runs the same
structural check, then reads the whole file slice by slice (never a whole volume in memory) for
NaN and infinite values.
"""

from dataclasses import dataclass, field
from pathlib import Path

from mri_recon.data.fastmri_format import KSPACE_KEY, MASK_KEY, target_key
from mri_recon.data.file_check import (
    BadFileError,
    FileLayout,
    open_volume,
    output_size,
    read_volume_info,
)
from mri_recon.data.finite import check_finite


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
