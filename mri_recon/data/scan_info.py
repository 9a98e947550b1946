"""What a clinical image format needs to know about a scan, read from its fastMRI-layout file.

- Pixel spacing and slice thickness: the ISMRMRD header's ``encoding/reconSpace`` field of view
  (``fieldOfView_mm``) over its matrix size. A reconstruction is cropped to the recon matrix, its
  rows along the readout (``x``) and its columns along the phase encoding (``y``), so the
  spacing between rows is ``fov.x / matrix.x`` and between columns ``fov.y / matrix.y``; the
  slice thickness is ``fov.z / matrix.z``. fastMRI's files have these; files without them (the
  simulator's) have no known spacing.
- Header fields (subject, study, equipment, sequence): the text of the elements the caller asks
  for, by path below ``ismrmrdHeader`` (e.g. ``subjectInformation/patientName``).
- Geometry: the dataset ``slice_geometry`` (slices, 12) float32 that ISMRMRD raw-data conversion
  writes: per slice the position of its centre (mm), then ``read_dir``, ``phase_dir`` and
  ``slice_dir``, in the ISMRMRD patient coordinate system (DICOM's), from the slice's first
  acquisition. fastMRI's own files have none.

Every problem is a ``BadFileError`` naming the file and the field.
"""

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mri_recon.data.fastmri_format import HEADER_KEY, ISMRMRD_NAMESPACE, SLICE_GEOMETRY_KEY
from mri_recon.data.file_check import BadFileError, open_volume
from mri_recon.data.finite import is_finite

RECON_SPACE = "encoding/reconSpace"
UNIT_TOLERANCE = 1e-3  # how far a direction's length may be from 1, and two directions' dot from 0


@dataclass(frozen=True)
class SliceGeometry:
    """Where each slice lies, in the patient coordinate system (mm).

    Attributes:
        position: (slices, 3), the centre of each slice.
        read_dir: (slices, 3), the readout direction: the direction of increasing row index.
        phase_dir: (slices, 3), the phase-encode direction: of increasing column index.
        slice_dir: (slices, 3), the slice normal.
    """

    position: np.ndarray
    read_dir: np.ndarray
    phase_dir: np.ndarray
    slice_dir: np.ndarray


@dataclass(frozen=True)
class ScanInfo:
    """A scan's spacing, header fields and geometry.

    Attributes:
        pixel_spacing: (between rows, between columns) in mm, or ``None`` when the header has no
            recon field of view.
        slice_thickness: in mm, or ``None`` likewise.
        fields: the text of each header field asked for that the header has, by path.
        geometry: each slice's position and directions, or ``None`` without ``slice_geometry``.
    """

    pixel_spacing: tuple[float, float] | None
    slice_thickness: float | None
    fields: dict[str, str]
    geometry: SliceGeometry | None


def _find(root: ET.Element, path: str) -> ET.Element | None:
    namespaced = "/".join(f"{{{ISMRMRD_NAMESPACE}}}{part}" for part in path.split("/"))
    return root.find(namespaced)


def _number(file: Path, root: ET.Element, path: str) -> float | None:
    """The positive number at ``path``, ``None`` when absent."""
    element = _find(root, path)
    if element is None or not (element.text or "").strip():
        return None
    try:
        value = float(element.text)
    except ValueError:
        raise BadFileError(file, f"ismrmrd_header {path} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise BadFileError(file, f"ismrmrd_header {path} is {element.text.strip()}, not >= 0")
    return value


def _spacing(file: Path, root: ET.Element) -> tuple[tuple[float, float] | None, float | None]:
    """(row spacing, column spacing) and slice thickness from the recon space."""
    fov = [_number(file, root, f"{RECON_SPACE}/fieldOfView_mm/{axis}") for axis in "xyz"]
    matrix = [_number(file, root, f"{RECON_SPACE}/matrixSize/{axis}") for axis in "xyz"]
    if fov[0] is None or fov[1] is None:
        return None, None
    if not (fov[0] > 0 and fov[1] > 0 and matrix[0] and matrix[1]):
        raise BadFileError(
            file, f"ismrmrd_header {RECON_SPACE} field of view {fov[:2]} or matrix {matrix[:2]} "
            "is not positive"
        )  # fmt: skip
    thickness = fov[2] / max(matrix[2] or 1.0, 1.0) if fov[2] else None
    return (fov[0] / matrix[0], fov[1] / matrix[1]), thickness


def _geometry(file: Path, rows: np.ndarray, num_slices: int) -> SliceGeometry:
    """The checked geometry of ``num_slices`` slices from ``slice_geometry``."""
    if rows.shape != (num_slices, 12):
        raise BadFileError(
            file, f"{SLICE_GEOMETRY_KEY} has shape {rows.shape}, not ({num_slices}, 12)"
        )
    if not np.issubdtype(rows.dtype, np.number) or not is_finite(rows):
        raise BadFileError(file, f"{SLICE_GEOMETRY_KEY} holds non-numeric or non-finite values")
    rows = rows.astype(np.float64)
    position, read, phase, normal = (rows[:, i : i + 3] for i in range(0, 12, 3))
    for name, direction in (("read_dir", read), ("phase_dir", phase), ("slice_dir", normal)):
        if np.abs(np.linalg.norm(direction, axis=1) - 1).max() > UNIT_TOLERANCE:
            raise BadFileError(file, f"{SLICE_GEOMETRY_KEY}: a {name} is not a unit vector")
    if np.abs((read * phase).sum(axis=1)).max() > UNIT_TOLERANCE:
        raise BadFileError(file, f"{SLICE_GEOMETRY_KEY}: read_dir and phase_dir not orthogonal")
    return SliceGeometry(position, read, phase, normal)


def read_scan_info(file: str | Path, num_slices: int, fields: Sequence[str] = ()) -> ScanInfo:
    """The spacing, the header ``fields`` and the geometry of the volume in ``file``.

    Args:
        file: a fastMRI-layout ``.h5`` file.
        num_slices: the volume's slices (``slice_geometry`` must have as many rows).
        fields: header paths below ``ismrmrdHeader`` whose text is wanted.

    Raises:
        BadFileError: unreadable file, no or malformed header, a bad field of view, or a
            malformed ``slice_geometry``.
    """
    file = Path(file)
    with open_volume(file) as hf:
        if HEADER_KEY not in hf:
            raise BadFileError(file, f"no '{HEADER_KEY}' dataset")
        xml = hf[HEADER_KEY][()]
        rows = hf[SLICE_GEOMETRY_KEY][()] if SLICE_GEOMETRY_KEY in hf else None
    try:
        root = ET.fromstring(xml.tobytes() if isinstance(xml, np.ndarray) else xml)
    except (ET.ParseError, TypeError) as error:
        raise BadFileError(file, f"ismrmrd_header is not valid XML ({error})") from None
    spacing, thickness = _spacing(file, root)
    elements = {path: _find(root, path) for path in fields}
    texts = {path: (e.text or "").strip() for path, e in elements.items() if e is not None}
    return ScanInfo(
        pixel_spacing=spacing,
        slice_thickness=thickness,
        fields={path: text for path, text in texts.items() if text},
        geometry=_geometry(file, np.asarray(rows), num_slices) if rows is not None else None,
    )
