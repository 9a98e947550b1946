"""Reading a fastMRI file's ISMRMRD header into the metadata fastMRI readers attach to every slice.

The fields and their arithmetic follow ``fastmri.data.SliceDataset`` exactly, so a model or
transform written against fastmri sees the same ``padding_left``, ``padding_right``,
``encoding_size`` and ``recon_size``. What differs is the failure: a missing or malformed field
raises ``HeaderError`` naming the field instead of fastmri's bare ``Element not found``.
"""

import xml.etree.ElementTree as ET
from typing import Any

from mri_recon.data.fastmri_format import ISMRMRD_NAMESPACE

ENCODED_MATRIX = ("encoding", "encodedSpace", "matrixSize")
RECON_MATRIX = ("encoding", "reconSpace", "matrixSize")
PHASE_ENCODE_LIMITS = ("encoding", "encodingLimits", "kspace_encoding_step_1")


class HeaderError(ValueError):
    """The ISMRMRD header cannot be parsed or lacks a field the data layer needs."""


def _int_field(root: ET.Element, path: tuple[str, ...]) -> int:
    """The integer text of the element at ``path`` below ``root``."""
    from fastmri.data.mri_data import et_query  # here: importing fastmri imports torch

    try:
        return int(et_query(root, list(path), namespace=ISMRMRD_NAMESPACE))
    except RuntimeError as err:
        raise HeaderError(f"ismrmrd_header lacks {'/'.join(path)}") from err
    except ValueError as err:
        raise HeaderError(f"ismrmrd_header field {'/'.join(path)} is not an integer") from err


def _matrix_size(root: ET.Element, path: tuple[str, ...]) -> tuple[int, int, int]:
    """The (x, y, z) matrix size stored under ``path``; x and y must be positive."""
    x, y, z = (_int_field(root, (*path, axis)) for axis in "xyz")
    if x < 1 or y < 1:
        raise HeaderError(f"ismrmrd_header {'/'.join(path)} is {x} x {y}: sizes must be positive")
    return x, y, z


def parse_header(xml: bytes | str) -> dict[str, Any]:
    """Parses the header metadata of one fastMRI volume.

    Args:
        xml: the ``ismrmrd_header`` dataset's content.

    Returns:
        ``padding_left``, ``padding_right`` (the acquired phase-encode columns are
        ``[padding_left, padding_right)``), and ``encoding_size`` and ``recon_size`` as
        (x, y, z) tuples.

    Raises:
        HeaderError: the XML is malformed, a field is missing or not an integer, or a matrix size
            is not positive.
    """
    if not isinstance(xml, bytes | str):
        raise HeaderError(f"ismrmrd_header must be text, got {type(xml).__name__}")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as err:
        raise HeaderError(f"ismrmrd_header is not valid XML ({err})") from err
    encoding_size = _matrix_size(root, ENCODED_MATRIX)
    recon_size = _matrix_size(root, RECON_MATRIX)
    center = _int_field(root, (*PHASE_ENCODE_LIMITS, "center"))
    num_acquired = _int_field(root, (*PHASE_ENCODE_LIMITS, "maximum")) + 1
    padding_left = encoding_size[1] // 2 - center
    return {
        "padding_left": padding_left,
        "padding_right": padding_left + num_acquired,
        "encoding_size": encoding_size,
        "recon_size": recon_size,
    }
