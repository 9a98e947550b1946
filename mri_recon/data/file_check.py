"""Validating one fastMRI HDF5 file and reading the metadata its slices share.

Every check a slice read would otherwise trip over later (often inside a DataLoader worker, with a
traceback that does not name the file) runs once here, when the dataset index is built.
"""

from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mri_recon.data.fastmri_format import HEADER_KEY, KSPACE_KEY, MASK_KEY, target_key
from mri_recon.data.header import parse_header

KSPACE_LAYOUTS = {
    "singlecoil": "(slices, rows, cols)",
    "multicoil": "(slices, coils, rows, cols)",
}


class BadFileError(ValueError):
    """A data file cannot be used; the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


def _dataset(hf: h5py.File, key: str) -> h5py.Dataset | None:
    """The dataset ``key`` or ``None`` when absent; a group under that name is an error."""
    if key not in hf:
        return None
    item = hf[key]
    if not isinstance(item, h5py.Dataset):
        raise ValueError(f"'{key}' is a {type(item).__name__}, not a dataset")
    return item


def _check_kspace(hf: h5py.File, challenge: str) -> tuple[int, ...]:
    """Checks presence, dtype and layout of the k-space; returns its shape."""
    kspace = _dataset(hf, KSPACE_KEY)
    if kspace is None:
        raise ValueError(f"no '{KSPACE_KEY}' dataset")
    if not np.issubdtype(kspace.dtype, np.complexfloating):
        raise ValueError(f"'{KSPACE_KEY}' must be complex, got dtype {kspace.dtype}")
    ndim = 3 if challenge == "singlecoil" else 4
    if kspace.ndim != ndim:
        raise ValueError(
            f"'{KSPACE_KEY}' must be {ndim}-D {KSPACE_LAYOUTS[challenge]} for {challenge}, "
            f"got shape {kspace.shape}"
        )
    if kspace.shape[0] == 0:
        raise ValueError(f"'{KSPACE_KEY}' has no slices")
    return kspace.shape


def _check_target(hf: h5py.File, challenge: str, num_slices: int) -> None:
    """Checks that the challenge's target, when present, is 3-D with one image per slice."""
    key = target_key(challenge)
    target = _dataset(hf, key)
    if target is None:
        return
    if target.ndim != 3 or target.shape[0] != num_slices:
        raise ValueError(
            f"'{key}' must have shape ({num_slices}, height, width) to match "
            f"'{KSPACE_KEY}', got {target.shape}"
        )


def _check_mask(hf: h5py.File, num_cols: int) -> None:
    """Checks that a stored sampling mask, when present, covers the phase-encode columns."""
    mask = _dataset(hf, MASK_KEY)
    if mask is not None and mask.shape != (num_cols,):
        raise ValueError(f"'{MASK_KEY}' must have shape ({num_cols},), got {mask.shape}")


def read_volume_info(path: str | Path, challenge: str) -> tuple[dict[str, Any], int]:
    """Validates one file and returns its metadata and slice count, as fastmri computes them.

    Args:
        path: a fastMRI-format HDF5 file.
        challenge: ``singlecoil`` or ``multicoil``: fixes the k-space layout and the target key.

    Returns:
        ``(metadata, num_slices)``: the header fields of ``parse_header`` followed by the file's
        attributes, and the number of slices.

    Raises:
        BadFileError: the file is not readable HDF5, or its k-space, header, target or mask is
            missing or malformed.
    """
    try:
        with h5py.File(path, "r") as hf:
            shape = _check_kspace(hf, challenge)
            _check_target(hf, challenge, shape[0])
            _check_mask(hf, shape[-1])
            header = _dataset(hf, HEADER_KEY)
            if header is None:
                raise ValueError(f"no '{HEADER_KEY}' dataset")
            metadata = {**parse_header(header[()]), **hf.attrs}
    except OSError as err:
        raise BadFileError(path, f"not a readable HDF5 file ({err})") from err
    except ValueError as err:
        raise BadFileError(path, str(err)) from err
    return metadata, shape[0]
