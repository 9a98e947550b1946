"""Writing outputs safely: atomically, marked as mri-recon's, never over a file it did not write.

- Atomic: a file is written to a temporary file beside its destination, then renamed, so a reader
  never sees a half-written file and an interrupted run leaves no output behind. A run killed
  mid-write leaves its hidden temporary file (``.<name>.mri-recon-<host>-<pid>.<random>.tmp``);
  the next write of the same destination removes the leftovers of processes of this host that
  are gone. A folder of outputs (a DICOM series) is written the same way as a whole
  (``atomic_folder``).
- Marked: every output carries the writer's mark of its kind (``mri_recon.data.marks``).
- Never over another's file: only an output that carries the mark of the same kind is ever
  replaced (``atomic_path`` refuses anything else, whatever ``overwrite`` says), and every command
  checks every path it will write before the work (``check_output``, ``check_output_folder``,
  ``check_owned``), so that nothing is computed for an output that cannot be written.
"""

import os
import shutil
import socket
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import h5py

from mri_recon.data.marks import MARK_KEY, PROGRAM, SOURCE_KEY, is_ours, writer_mark

TEMP_SUFFIX = ".tmp"


class ForeignFileError(FileExistsError):
    """Something mri-recon did not write is where an output would go; it is never replaced."""


def check_outside(path: str | Path, folder: str | Path, argument: str) -> None:
    """Refuses an output ``path`` inside (or equal to) the input ``folder``; the one-line error
    names the command-line ``argument`` that gave it. A ``folder`` that does not exist holds
    nothing to protect: the command's own check of its input names that problem instead."""
    if Path(folder).exists() and Path(path).resolve().is_relative_to(Path(folder).resolve()):
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
        fd, probe = tempfile.mkstemp(prefix=f".{PROGRAM}-write-test.", dir=existing)
    except OSError as error:
        raise ValueError(f"{argument}: {path} cannot be written ({error})") from None
    os.close(fd)
    os.unlink(probe)


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()  # a broken link is in the way too


def _foreign(path: Path, kind: str) -> str | None:
    """Why ``path`` cannot be replaced by a ``kind`` output (``None``: it can)."""
    if path.is_symlink():
        return "is a symbolic link"
    if is_ours(path, kind):  # a file, or a folder of them (a DICOM series)
        return None
    return "is a folder" if path.is_dir() else f"was not written by {PROGRAM} as a {kind}"


def check_owned(paths: Iterable[Path], kind: str, argument: str) -> list[Path]:
    """The ``paths`` that exist, all checked to be ``kind`` outputs of mri-recon's.

    Raises:
        ForeignFileError: one line naming the first path in the way that is anything else (and
            how many there are): such files are never replaced.
    """
    existing = [Path(path) for path in paths if _exists(Path(path))]
    foreign = [(path, why) for path in existing if (why := _foreign(path, kind)) is not None]
    if foreign:
        (path, why), more = foreign[0], len(foreign) - 1
        others = f" (and {more} more file(s) in the way)" if more else ""
        raise ForeignFileError(
            f"{argument}: {path} {why}{others}; {PROGRAM} never replaces what it did not "
            "write: move it away or write elsewhere"
        )
    return existing


def check_output(
    path: str | Path,
    argument: str,
    kind: str,
    overwrite: bool = False,
    inputs: Sequence[str | Path | None] = (),
) -> Path:
    """The check of one output file before any work: outside the ``inputs`` folders, not already
    there (unless ``overwrite``, and then only as mri-recon's own ``kind`` output), writable.

    Raises:
        ValueError, FileExistsError: one line naming the command-line ``argument`` and the path.
    """
    path = Path(path)
    for folder in inputs:
        if folder is not None:
            check_outside(path, folder, argument)
    if check_owned([path], kind, argument) and not overwrite:
        raise FileExistsError(f"{argument}: {path} already exists (pass --overwrite to replace it)")
    check_writable(path, argument)
    return path


def check_output_folder(
    path: str | Path, argument: str, inputs: Sequence[str | Path | None] = ()
) -> Path:
    """The check of an output folder before any work: not a file, outside the ``inputs`` folders,
    writable. The files to be written in it are checked with ``check_owned``.

    Raises:
        ValueError: one line naming the command-line ``argument`` and the path.
    """
    path = Path(path)
    if _exists(path) and not path.is_dir():
        raise ValueError(f"{argument}: {path} exists and is not a folder")
    for folder in inputs:
        if folder is not None:
            check_outside(path, folder, argument)
    check_writable(path, argument, folder=True)
    return path


def _owner() -> str:
    """This process, as temporary file names record it: ``mri-recon-<host>-<pid>``."""
    return f"{PROGRAM}-{socket.gethostname().replace('.', '_')}-{os.getpid()}"


def _gone(owner: str) -> bool:
    """Whether the process ``<host>-<pid>`` that wrote a temporary file has ended (only a
    process of this host can be known to have)."""
    host, _, pid = owner.removeprefix(f"{PROGRAM}-").rpartition("-")
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
    """Removes the temporary files (or folders) of earlier writes of ``path`` by mri-recon
    processes that have ended (their names say so)."""
    prefix = f".{path.name}."
    for leftover in path.parent.glob(f"{prefix}{PROGRAM}-*{TEMP_SUFFIX}"):
        owner = leftover.name[len(prefix) :].split(".", 1)[0]
        if not _gone(owner):
            continue
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def _temporary(path: Path, folder: bool = False) -> Path:
    """A new temporary file (or folder) beside ``path``, named as ``remove_leftovers`` expects."""
    prefix = f".{path.name}.{_owner()}."
    if folder:
        return Path(tempfile.mkdtemp(prefix=prefix, suffix=TEMP_SUFFIX, dir=path.parent))
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    return Path(name)


def _umask() -> int:
    """The process's file-creation mask (reading it means setting it, so it is set back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path, kind: str, overwrite: bool = False) -> Iterator[Path]:
    """Yields a temporary path in ``path``'s folder; renames it onto ``path`` on success.

    The caller writes the file with the mark of ``kind`` (``mri_recon.data.marks``).

    Args:
        path: final destination. Its parent folder is created when missing.
        kind: what the output is (``reconstruction``, ``report``, ...): an existing ``path`` is
            replaced only when it carries the mark of this kind.
        overwrite: replace an existing ``path`` of mri-recon's; otherwise ``FileExistsError`` is
            raised up front.

    Yields:
        A path to write to. On an exception it is deleted and ``path`` is left untouched.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        ForeignFileError: ``path`` exists and mri-recon did not write it as a ``kind``.
    """
    path = _make_way(Path(path), kind, overwrite)
    tmp = _temporary(path)
    try:
        yield tmp
        if tmp.is_file():  # mkstemp makes 0600 files; give the output the usual permissions
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _make_way(path: Path, kind: str, overwrite: bool) -> Path:
    """Checks that ``path`` may be written (new, or a ``kind`` output of mri-recon's with
    ``overwrite``), makes its folder and removes a killed earlier write's leftovers."""
    if _exists(path):
        if not overwrite:
            raise FileExistsError(f"{path}: already exists (pass overwrite to replace it)")
        check_owned([path], kind, "output")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path)
    return path


@contextmanager
def atomic_folder(path: str | Path, kind: str, overwrite: bool = False) -> Iterator[Path]:
    """Yields a temporary folder beside ``path``; puts it in ``path``'s place on success.

    The caller fills it with files marked as ``kind`` outputs (so that the folder is one, see
    ``mri_recon.data.marks``). A new ``path`` appears whole, by one rename. An existing one (of
    mri-recon's, and only with ``overwrite``) is first renamed to a temporary name, then the new
    folder takes its place and the old one is deleted: readers see the old folder, briefly none,
    then the new one, never a mixture; a run killed in between leaves temporary folders that the
    next write of ``path`` removes.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        ForeignFileError: ``path`` exists and is not a ``kind`` output of mri-recon's.
    """
    path = _make_way(Path(path), kind, overwrite)
    tmp = _temporary(path, folder=True)
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700 folders
        if _exists(path):
            old = _temporary(path, folder=True)
            os.replace(path, old)  # onto the new empty folder
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def atomic_h5(
    path: str | Path, kind: str, overwrite: bool = False, source: str | Path | None = None
) -> Iterator[h5py.File]:
    """Opens a new HDF5 file for writing that appears at ``path`` only once it is closed cleanly,
    with the mark of ``kind`` (the root attribute ``written_by``) and its ``source``.

    Args:
        path: final destination of the HDF5 file.
        kind: what the file is; see ``atomic_path``.
        overwrite: replace an existing file of mri-recon's ``kind``; see ``atomic_path``.
        source: the input it is made from, recorded as the root attribute ``source``.

    Yields:
        An ``h5py.File`` open in write mode on a temporary file in the same folder.
    """
    with atomic_path(path, kind, overwrite=overwrite) as tmp:
        with h5py.File(tmp, "w") as hf:
            hf.attrs[MARK_KEY] = writer_mark(kind)
            if source is not None:
                hf.attrs[SOURCE_KEY] = str(source)
            yield hf
