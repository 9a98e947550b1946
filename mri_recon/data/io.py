"""Atomic file output: write to a temporary file beside the destination, then rename.

A reader never sees a half-written file, and an interrupted run leaves no output behind. A run
killed mid-write leaves its hidden temporary file (``.<name>.<host>-<pid>.<random>.tmp``); the
next write of the same destination removes the leftovers of processes of this host that are gone.
Destinations are checked writable before the work that fills them (``check_writable``).
"""

import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py

TEMP_SUFFIX = ".tmp"


def check_outside(path: str | Path, folder: str | Path, argument: str) -> None:
    """Refuses an output ``path`` inside (or equal to) the input ``folder``; the one-line error
    names the command-line ``argument`` that gave it."""
    if Path(path).resolve().is_relative_to(Path(folder).resolve()):
        raise ValueError(f"{argument}: {path} is inside the input folder {folder}")


def check_writable(path: str | Path, argument: str, folder: bool = False) -> None:
    """Checks, before any work, that ``path`` (a file, or a ``folder`` of outputs) can be
    written: its nearest existing folder is a folder and takes a new file. Nothing is left
    behind.

    Raises:
        ValueError: naming the command-line ``argument``, the path and why.
    """
    path = Path(path)
    existing = path if folder else path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{argument}: {path} cannot be written: {existing} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".mri-recon-write-test.", dir=existing)
    except OSError as error:
        raise ValueError(f"{argument}: {path} cannot be written ({error})") from None
    os.close(fd)
    os.unlink(probe)


def _owner() -> str:
    """This process, as temporary file names record it: ``<host>-<pid>``."""
    return f"{socket.gethostname().replace('.', '_')}-{os.getpid()}"


def _gone(owner: str) -> bool:
    """Whether the process ``<host>-<pid>`` that wrote a temporary file has ended (only a
    process of this host can be known to have)."""
    host, _, pid = owner.rpartition("-")
    if host != socket.gethostname().replace(".", "_") or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, under another user
        return False
    return False


def remove_leftovers(path: Path) -> None:
    """Removes the temporary files of earlier writes of ``path`` whose process has ended."""
    prefix = f".{path.name}."
    for leftover in path.parent.glob(f"{prefix}*{TEMP_SUFFIX}"):
        owner = leftover.name[len(prefix) :].split(".", 1)[0]
        if _gone(owner):
            leftover.unlink(missing_ok=True)


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
    remove_leftovers(path)
    prefix = f".{path.name}.{_owner()}."
    fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=TEMP_SUFFIX, dir=path.parent)
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
