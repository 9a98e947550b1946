"""The volumes of a data folder: its ``.h5`` files, with look-alikes reported, not ignored.

fastMRI volumes are ``.h5`` files. A folder copied from a Mac holds ``._<name>.h5`` metadata
files, another tool may write ``.H5`` or ``.hdf5``, and a moved disk leaves broken symbolic links:
silently leaving those out hides data from a run, so each gets a warning naming it (broken links
are listed as volumes, so that reading them fails with their name). Light: no h5py, no torch.
"""

import warnings
from pathlib import Path

DATA_SUFFIX = ".h5"
OTHER_HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")  # compared in lower case


def ignored_files(folder: Path) -> list[str]:
    """``"<file>: <why>"`` for each file of ``folder`` that looks like data but is not read:
    other HDF5 suffixes (``.H5``, ``.hdf5``), hidden ``.h5`` files such as macOS's ``._*``, and
    folders, pipes or devices named like data (never opened: a pipe would block the reader)."""
    ignored = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in OTHER_HDF5_SUFFIXES:
            continue
        if path.is_dir():
            ignored.append(f"{path}: a folder, not a file, ignored")
        elif path.exists() and not path.is_file():
            ignored.append(f"{path}: not a regular file (a pipe or a device), ignored")
        elif path.name.startswith("._"):
            ignored.append(f"{path}: macOS metadata file (not data), ignored")
        elif path.name.startswith("."):
            ignored.append(f"{path}: hidden file, ignored")
        elif path.suffix != DATA_SUFFIX:
            ignored.append(f"{path}: only {DATA_SUFFIX} files are read; rename it to read it")
    return ignored


def list_volume_files(root: str | Path) -> list[Path]:
    """The ``.h5`` files directly in ``root``, sorted; hidden files are left out, with a warning
    naming them and other look-alikes (``ignored_files``). Broken symbolic links are listed, so
    that reading them fails with their name.

    Raises:
        ValueError: ``root`` is missing, not a folder, or holds no ``.h5`` file.
    """
    folder = Path(root)
    if not folder.is_dir():
        raise ValueError(f"root: data folder {folder} does not exist or is not a folder")
    files = sorted(
        path
        for path in folder.iterdir()
        if path.suffix == DATA_SUFFIX
        and not path.name.startswith(".")
        and (path.is_file() or (path.is_symlink() and not path.exists()))
    )
    for ignored in ignored_files(folder):
        warnings.warn(ignored, stacklevel=2)
    if not files:
        raise ValueError(f"root: data folder {folder} holds no {DATA_SUFFIX} files")
    return files
