"""NIfTI-1 output of reconstructed volumes, for clinical and research viewers.

nibabel is an optional dependency (the ``nifti`` extra); it is imported only when a file is
written. The file is built in memory and written with ``atomic_path``, so a reader never sees a
half-written volume, and the compression is chosen here from the final name rather than by
nibabel from the temporary one.
"""

import gzip
import math
from pathlib import Path
from types import ModuleType

import numpy as np

from mri_recon.data.io import atomic_path
from mri_recon.data.marks import writer_mark

NIFTI_SUFFIXES = (".nii.gz", ".nii")
NIBABEL_MISSING = "--nifti needs nibabel: pip install 'mri-recon[nifti]'"
XFORM_ALIGNED_ANAT = 2  # NIfTI xform code: coordinates aligned to an anatomy, not scanner space
NIFTI = "nifti"  # the kind of output (mark, in the header's descrip field)


def require_nibabel() -> ModuleType:
    """nibabel (the optional ``nifti`` extra), or a ``ModuleNotFoundError`` saying how to get it."""
    try:
        import nibabel
    except ImportError as err:
        raise ModuleNotFoundError(NIBABEL_MISSING) from err
    return nibabel


def save_nifti(
    volume: np.ndarray,
    path: str | Path,
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
    overwrite: bool = False,
) -> Path:
    """Saves a (slices, H, W) volume as a float32 NIfTI-1 file (``.nii.gz`` or ``.nii``).

    Orientation convention: voxel ``(i, j, k)`` of the file is column ``i``, row ``H - 1 - j``
    of slice ``k`` of ``volume``, i.e. the array is stored as (x, y, z) = (W, H, slices) with the
    image's rows flipped so its top lies at the largest ``y``. The affine is
    ``diag(col spacing, row spacing, slice spacing, 1)`` in millimetres (sform and qform, code
    "aligned"), so in the NIfTI RAS+ world the image's left-to-right runs along +x, its
    bottom-to-top along +y and the slice index along +z, with voxel (0, 0, 0) at the origin.
    A viewer in neurological display shows each slice upright as in the PNG previews; one in
    radiological display mirrors it left to right.

    Args:
        volume: (slices, H, W) real volume, e.g. a magnitude reconstruction.
        path: destination ending in ``.nii.gz`` (gzip-compressed) or ``.nii``.
        spacing: voxel size in mm as (column spacing, row spacing, slice spacing).
        overwrite: replace an existing NIfTI file of mri-recon's (never another's); otherwise
            ``FileExistsError`` is raised.

    Returns:
        The path written, its header's ``descrip`` holding mri-recon's mark.

    Raises:
        ModuleNotFoundError: nibabel is not installed.
        ValueError: bad suffix, volume or spacing.
    """
    path = Path(path)
    name = path.name.lower()
    if not name.endswith(NIFTI_SUFFIXES) or name in NIFTI_SUFFIXES:
        raise ValueError(f"{path}: a NIfTI file name must end in .nii.gz or .nii")
    data = np.asarray(volume)
    if data.ndim != 3 or data.size == 0:
        raise ValueError(f"volume: expected a non-empty (slices, H, W) array, got {data.shape}")
    if not (np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.floating)):
        raise ValueError(f"volume: expected real values, got dtype {data.dtype}")
    if len(spacing) != 3 or not all(math.isfinite(s) and s > 0 for s in spacing):
        raise ValueError(f"spacing: expected 3 positive finite sizes in mm, got {spacing!r}")
    nibabel = require_nibabel()

    xyz = np.ascontiguousarray(data.transpose(2, 1, 0)[:, ::-1, :], dtype=np.float32)
    affine = np.diag([float(s) for s in spacing] + [1.0])
    image = nibabel.Nifti1Image(xyz, affine)
    image.set_sform(affine, code=XFORM_ALIGNED_ANAT)
    image.set_qform(affine, code=XFORM_ALIGNED_ANAT)
    image.header.set_xyzt_units(xyz="mm")
    image.header["descrip"] = writer_mark(NIFTI)
    with atomic_path(path, NIFTI, overwrite=overwrite) as tmp:
        content = image.to_bytes()
        if name.endswith(".gz"):
            content = gzip.compress(content, compresslevel=6, mtime=0)
        tmp.write_bytes(content)
    return path
