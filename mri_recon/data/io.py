"""Atomic file output: write to a temporary file beside the destination, then rename.

A reader never sees a half-written file, and an interrupted run leaves no output behind.
"""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py


def check_outside(path: str | Path, folder: str | Path, argument: str) -> None:
    """Refuses an output ``path`` inside (or equal to) the input ``folder``; the one-line error
    names the command-line ``argument`` that gave it."""
    if Path(path).resolve().is_relative_to(Path(folder).resolve()):
        raise ValueError(f"{argument}: {path} is inside the input folder {folder}")


def _umask() -> int:
    """The process's file-creation mask (reading it means setting it, so it is set back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yields a temporary path in ``path``'s folder; renames it onto ``path`` on success.

    Args:
        path: final destination. Its parent folder is created when missing.
        overwrite: replace an existing ``path``; otherwise ``FileExistsError`` is raised up front.

    Yields:
        A path to write to. On an exception it is deleted and ``path`` is left untouched.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: already exists (pass overwrite to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.is_file():  # mkstemp makes 0600 files; give the output the usual permissions
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_h5(path: str | Path, overwrite: bool = False) -> Iterator[h5py.File]:
    """Opens a new HDF5 file for writing that appears at ``path`` only once it is closed cleanly.

    Args:
        path: final destination of the HDF5 file.
        overwrite: replace an existing file; otherwise ``FileExistsError`` is raised up front.

    Yields:
        An ``h5py.File`` open in write mode on a temporary file in the same folder.
    """
    with atomic_path(path, overwrite=overwrite) as tmp:
        with h5py.File(tmp, "w") as hf:
            yield hf
