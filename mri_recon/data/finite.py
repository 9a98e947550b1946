"""Non-finite values (NaN, inf) caught where a slice is made, named by file and slice.

One NaN in one k-space slice is enough to turn every weight of a network into NaN, and a NaN
target turns a mean score into NaN, so every slice is checked when it is read, before it reaches a
transform, a network, a loss or a metric. The check is one reduction over data already in memory:
the sum of finite values is finite, so the common case costs a single pass and no allocation; only
a non-finite sum (NaN, inf, or an overflow of huge finite values) is looked at element by element.
"""

from pathlib import Path

import numpy as np

from mri_recon.data.file_check import BadFileError


class NonFiniteError(BadFileError):
    """A slice (or volume) holds NaN or infinite values; the message names file, slice and array."""


def is_finite(array: np.ndarray) -> bool:
    """Whether every element of ``array`` is finite (integer and boolean arrays always are)."""
    if not np.issubdtype(array.dtype, np.inexact):
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(array.sum()):
            return True
    return bool(np.isfinite(array).all())  # the sum overflowed, or a value is NaN or inf


def check_finite(path: str | Path, slice_num: int | None, **arrays: np.ndarray | None) -> None:
    """Raises ``NonFiniteError`` naming the file, the slice and the first array that holds NaN or
    infinite values; ``None`` arrays (a missing target or mask) are left out.

    Args:
        path: the file the arrays come from.
        slice_num: their slice index, or ``None`` for whole volumes.
        arrays: the arrays by the name the message gives them (the HDF5 key).

    Examples:
        >>> import numpy as np
        >>> from mri_recon.data.finite import check_finite
        >>> check_finite("vol.h5", 2, kspace=np.ones(4, np.complex64), mask=None)
        >>> check_finite("vol.h5", 2, kspace=np.array([1, np.nan], np.complex64))
        Traceback (most recent call last):
        mri_recon.data.finite.NonFiniteError: vol.h5: slice 2: 'kspace' holds NaN or infinite values
    """
    for name, array in arrays.items():
        if array is not None and not is_finite(np.asarray(array)):
            where = f"slice {slice_num}: " if slice_num is not None else ""
            raise NonFiniteError(path, f"{where}'{name}' holds NaN or infinite values")
