"""Validating one fastMRI HDF5 file and reading the metadata its slices share.

``open_volume`` is the one place a data file is opened: an ISMRMRD raw file (detected by its
content) is handed to ``mri_recon.data.ismrmrd_memory`` and read as the fastMRI file it converts
to, so every check and loader reads raw scans too.

Every check of a file's structure runs once here, when the dataset index is built, for every
loader and command alike (``fit``, ``reconstruct``, ``evaluate``, ``check-data``): the arrays'
types and shapes, the header's sizes against the arrays (a slice read would otherwise trip over
them later, often inside a DataLoader worker, with a traceback that does not name the file), and
the attributes the loaders use, for type and range. Checks that need every value (NaN or inf in a
slice) run when the slice is read (``mri_recon.data.finite``) and, for a whole folder at once, in
``mri-recon check-data``.
"""

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import h5py
import numpy as np

from mri_recon.data.fastmri_format import HEADER_KEY, KSPACE_KEY, MASK_KEY, target_key
from mri_recon.data.header import parse_header
from mri_recon.data.ismrmrd_memory import cached_conversion, convert_in_memory
from mri_recon.data.ismrmrd_read import IsmrmrdError, is_raw_scan

KSPACE_LAYOUTS = {
    "singlecoil": "(slices, rows, cols)",
    "multicoil": "(slices, coils, rows, cols)",
}
KSPACE_AXES = {"singlecoil": ("rows", "columns"), "multicoil": ("coils", "rows", "columns")}


class FileLayout(NamedTuple):
    """The array shapes of a volume: what checks against mask settings and outputs need.

    Attributes:
        kspace_shape: (slices, [coils,] rows, columns).
        target_shape: (slices, height, width) of the challenge's target, ``None`` without one.
        has_mask: the file stores its own sampling mask (a test file).
    """

    kspace_shape: tuple[int, ...]
    target_shape: tuple[int, ...] | None
    has_mask: bool


class BadFileError(ValueError):
    """A data file cannot be used; the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


@contextmanager
def _errors_named(path: Path) -> Iterator[None]:
    """h5py's read errors (which do not name the file) as ``BadFileError`` naming it."""
    try:
        yield
    except (OSError, KeyError) as err:
        raise BadFileError(path, f"cannot be read ({err})") from err


@contextmanager
def open_volume(path: str | Path) -> Iterator[h5py.File]:
    """Opens a data file for reading; failures to open or read it raise ``BadFileError`` naming
    the file (h5py's own messages do not).

    An ISMRMRD raw file is read as the fastMRI file it converts to (in memory, cached), and a
    file that cannot be converted raises ``BadFileError`` with the reason.
    """
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise BadFileError(path, f"broken symbolic link to {path.readlink()}")
    converted = cached_conversion(path)
    if converted is None:
        try:
            hf = h5py.File(path, "r")
        except OSError as err:
            raise BadFileError(path, f"not a readable HDF5 file ({err})") from err
        with hf:
            if not is_raw_scan(hf):
                with _errors_named(path):
                    yield hf
                return
            try:
                with _errors_named(path):
                    converted = convert_in_memory(path, hf)
            except IsmrmrdError as err:
                raise BadFileError(path, f"ISMRMRD: {err}") from err
    with _errors_named(path):
        yield converted


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
    for axis, size in zip(KSPACE_AXES[challenge], kspace.shape[1:]):
        if size == 0:
            raise ValueError(f"'{KSPACE_KEY}' has 0 {axis}: shape {kspace.shape}")
    return kspace.shape


def _check_target(hf: h5py.File, challenge: str, num_slices: int) -> tuple[int, ...] | None:
    """Checks that the challenge's target, when present, is a real 3-D array with one non-empty
    image per slice; returns its shape."""
    key = target_key(challenge)
    target = _dataset(hf, key)
    if target is None:
        return None
    if target.ndim != 3 or target.shape[0] != num_slices or 0 in target.shape:
        raise ValueError(
            f"'{key}' must have shape ({num_slices}, height, width) to match "
            f"'{KSPACE_KEY}', got {target.shape}"
        )
    if not np.issubdtype(target.dtype, np.floating):
        raise ValueError(f"'{key}' must hold real floating-point images, got dtype {target.dtype}")
    return target.shape


MAX_TEXT = 256  # the longest text attribute a file may carry (acquisitions are ~10 characters)
FLOAT32_MAX = float(np.finfo(np.float32).max)
# attribute -> (kind, lowest value, highest value): the attributes the loaders and reports use
ATTRIBUTES = {
    "max": ("number", 0.0, FLOAT32_MAX),  # the data range of PSNR and SSIM; targets are float32
    "norm": ("number", 0.0, FLOAT32_MAX),
    "acceleration": ("integer", 1, None),
    "num_low_frequency": ("integer", 0, None),
    "acquisition": ("text", None, None),
    "patient_id": ("text", None, None),
}


def _attribute_problem(name: str, value: Any) -> str | None:
    """What is wrong with the attribute ``name`` (``None`` when nothing is)."""
    kind, low, high = ATTRIBUTES[name]
    if kind == "text":
        if not isinstance(value, str | bytes):
            return f"attribute '{name}' must be text, got {type(value).__name__}"
        if len(value) > MAX_TEXT:
            return f"attribute '{name}' must be at most {MAX_TEXT} characters, got {len(value)}"
        return None
    number = value.item() if isinstance(value, np.generic) else value
    allowed = int if kind == "integer" else int | float
    if isinstance(number, bool) or not isinstance(number, allowed):
        return (
            f"attribute '{name}' must be a{'n' if kind == 'integer' else ''} {kind}, got {number!r}"
        )
    if not math.isfinite(number) or number < low or (high is not None and number > high):
        limits = f">= {low}" if high is None else f"in [{low}, {high:.3g}]"
        return f"attribute '{name}' must be a finite {kind} {limits}, got {number}"
    return None


def _check_attributes(attrs: h5py.AttributeManager) -> None:
    """Checks the type and range of the attributes the loaders use, when present."""
    for name in ATTRIBUTES:
        if name in attrs and (problem := _attribute_problem(name, attrs[name])) is not None:
            raise ValueError(problem)


def header_problems(metadata: dict[str, Any], layout: FileLayout) -> list[str]:
    """The header's sizes that disagree with the arrays (what a transform would trip over)."""
    problems = []
    rows, cols = layout.kspace_shape[-2:]
    encoded, recon = metadata["encoding_size"], metadata["recon_size"]
    if encoded[1] != cols:
        problems.append(
            f"the header's encoded matrix is {encoded[1]} columns wide but '{KSPACE_KEY}' has "
            f"{cols} (the phase-encode padding would be misplaced)"
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


def output_size(
    num_cols: int, target_shape: tuple[int, ...] | None, recon_size: tuple[int, ...]
) -> tuple[int, int]:
    """The (height, width) of a slice's sample: the target's size (the header's ``recon_size``
    without a target), narrowed to a square of the k-space width when that is narrower."""
    size = tuple(target_shape[-2:]) if target_shape is not None else tuple(recon_size[:2])
    return (num_cols, num_cols) if num_cols < size[1] else (size[0], size[1])


def _check_mask(hf: h5py.File, num_cols: int) -> None:
    """Checks that a stored sampling mask, when present, covers the phase-encode columns."""
    mask = _dataset(hf, MASK_KEY)
    if mask is not None and mask.shape != (num_cols,):
        raise ValueError(f"'{MASK_KEY}' must have shape ({num_cols},), got {mask.shape}")


def read_volume_info(path: str | Path, challenge: str) -> tuple[dict[str, Any], int, FileLayout]:
    """Validates one file and returns its metadata and slice count, as fastmri computes them.

    Args:
        path: a fastMRI-format HDF5 file.
        challenge: ``singlecoil`` or ``multicoil``: fixes the k-space layout and the target key.

    Returns:
        ``(metadata, num_slices, layout)``: the header fields of ``parse_header`` followed by the
        file's attributes, the number of slices, and the shapes of its arrays.

    Raises:
        BadFileError: the file is not readable HDF5; its k-space, header, target or mask is
            missing or malformed; the header's sizes disagree with the arrays
            (``header_problems``, all of them in one line); or an attribute the loaders use has
            the wrong type or an absurd value.
    """
    with open_volume(path) as hf:
        try:
            shape = _check_kspace(hf, challenge)
            target_shape = _check_target(hf, challenge, shape[0])
            _check_mask(hf, shape[-1])
            _check_attributes(hf.attrs)
            header = _dataset(hf, HEADER_KEY)
            if header is None:
                raise ValueError(f"no '{HEADER_KEY}' dataset")
            metadata = {**parse_header(header[()]), **hf.attrs}
            layout = FileLayout(tuple(shape), target_shape, MASK_KEY in hf)
            problems = header_problems(metadata, layout)
            if problems:
                raise ValueError("; ".join(problems))
        except ValueError as err:
            raise BadFileError(path, str(err)) from err
    return metadata, shape[0], layout
