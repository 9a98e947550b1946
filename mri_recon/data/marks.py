"""The writer's mark: every file mri-recon writes says so inside it, with what kind of output it is.

The mark is one string, ``mri-recon <version> (<kind>)``, e.g. ``mri-recon 0.1.0 (reconstruction)``,
kept where each format keeps such things:

- HDF5 (``.h5``): the root attribute ``written_by``;
- PNG: the text chunk ``Software`` (the PNG keyword for the program that made the image);
- NIfTI (``.nii``, ``.nii.gz``): the header's ``descrip`` field;
- DICOM (``.dcm``): the attribute Software Versions (0018,1020), the software that made the
  image; a folder (a DICOM series) is an output of a kind when it holds only ``.dcm`` files, at
  least one, all of that kind (an empty folder or one with anything else in it is not ours);
- JSON: the top-level key ``written_by``;
- checkpoints (``.ckpt``): the ``mri_recon`` section ``ReconModule`` adds (kind ``checkpoint``);
- any other file (CSV, text, caches): the first line holds the mark, as a comment
  (``# mri-recon 0.1.0 (report)``).

Only a file that carries the mark of the same kind is ever replaced, repaired or deleted
(``mri_recon.data.io``): a simulated dataset file is not a reconstruction, so ``reconstruct`` never
takes one for its own output.
"""

import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

PROGRAM = "mri-recon"
MARK_KEY = "written_by"  # HDF5 attribute and JSON key
PNG_KEY = "Software"
DICOM_SUFFIX = ".dcm"
SOURCE_KEY = "source"  # HDF5 attribute: the input file an output was made from
CHECKPOINT = "checkpoint"  # the kind of Lightning checkpoints, marked by their mri_recon section
CHECKPOINT_SECTION = "mri_recon"
_MARK = re.compile(rf"{PROGRAM} (\S+) \(([\w -]+)\)")
_FIRST_LINE_BYTES = 512


@cache
def version() -> str:
    """mri-recon's installed version (``unknown`` when run from a source tree not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed(PROGRAM)
    except PackageNotFoundError:
        return "unknown"


def writer_mark(kind: str) -> str:
    """The mark of a ``kind`` output written by this version: ``mri-recon <version> (<kind>)``."""
    return f"{PROGRAM} {version()} ({kind})"


def mark_kind(text: object) -> str | None:
    """The kind named by a mark found in ``text`` (``None`` when ``text`` holds no mark)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    found = _MARK.search(text) if isinstance(text, str) else None
    return found.group(2) if found else None


def _h5_mark(path: Path) -> object:
    import h5py

    with h5py.File(path, "r") as hf:
        return hf.attrs.get(MARK_KEY)


def _png_mark(path: Path) -> object:
    from PIL import Image

    with Image.open(path) as image:  # info: the text chunks before the image data, unloaded
        return image.info.get(PNG_KEY)


def _nifti_mark(path: Path) -> object:
    import nibabel

    return nibabel.load(path).header["descrip"].item()


def _dicom_mark(path: Path) -> object:
    import pydicom

    dataset = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SoftwareVersions"])
    value = dataset.get("SoftwareVersions")
    return None if value is None else str(value)


def _json_mark(path: Path) -> object:
    content = json.loads(path.read_text(encoding="utf-8"))
    return content.get(MARK_KEY) if isinstance(content, dict) else None


def _checkpoint_mark(path: Path) -> object:
    from mri_recon.models.checkpoint import read_checkpoint_file  # the one checkpoint reader

    content = read_checkpoint_file(path)
    owned = isinstance(content, dict) and CHECKPOINT_SECTION in content
    return writer_mark(CHECKPOINT) if owned else None


def _first_line_mark(path: Path) -> object:
    with open(path, "rb") as f:
        return f.read(_FIRST_LINE_BYTES).split(b"\n", 1)[0]


def _reader(path: Path) -> Callable[[Path], object]:
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        return _nifti_mark
    readers = {
        ".h5": _h5_mark,
        ".png": _png_mark,
        ".json": _json_mark,
        ".ckpt": _checkpoint_mark,
        DICOM_SUFFIX: _dicom_mark,
    }
    return readers.get(path.suffix.lower(), _first_line_mark)


def _folder_kind(folder: Path) -> str | None:
    """The kind of a series folder: that of its ``.dcm`` files, when it holds nothing else and
    they all have the same."""
    kinds = set()
    for entry in folder.iterdir():
        if entry.is_symlink() or not entry.is_file() or entry.suffix.lower() != DICOM_SUFFIX:
            return None
        kinds.add(read_kind(entry))
    return kinds.pop() if len(kinds) == 1 else None


def read_kind(path: str | Path) -> str | None:
    """The kind of output mri-recon wrote at ``path`` (a file, or a folder holding a DICOM
    series); ``None`` for a file without the mark, one that cannot be read, a folder holding
    anything else, or nothing at all. Never raises."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        try:
            return _folder_kind(path)
        except OSError:  # an unreadable folder proves nothing
            return None
    if not path.is_file():
        return None
    try:
        return mark_kind(_reader(path)(path))
    except Exception:  # an unreadable file proves nothing, whatever the reason
        return None


def is_ours(path: str | Path, kind: str) -> bool:
    """Whether ``path`` is a ``kind`` output that mri-recon wrote (it carries that mark)."""
    return read_kind(path) == kind
