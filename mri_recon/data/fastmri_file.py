"""Writing one volume in the fastMRI HDF5 layout: k-space, targets, ISMRMRD header and attributes.

The header carries what readers of fastMRI files take from it: the encoded and reconstructed matrix
sizes and the phase-encode limits, from which ``padding_left``/``padding_right`` follow.
"""

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mri_recon.data.fastmri_format import HEADER_KEY, ISMRMRD_NAMESPACE, KSPACE_KEY, MASK_KEY
from mri_recon.data.io import atomic_h5

DATASET = "dataset"  # the kind of output (mark) of the files data_prep writes


@dataclass(frozen=True)
class Encoding:
    """Matrix sizes and phase-encode limits of an acquisition, as the ISMRMRD header states them.

    Attributes:
        encoded: (readout, phase-encode) size of the k-space matrix, readout oversampling included.
        recon: (height, width) of the reconstructed image (the target's size).
        pe_first: index of the first acquired phase-encode line; lines before it are zero.
        pe_last: index of the last acquired phase-encode line; lines after it are zero.
        num_coils: receiver channels.
    """

    encoded: tuple[int, int]
    recon: tuple[int, int]
    pe_first: int
    pe_last: int
    num_coils: int = 1

    @property
    def pe_center(self) -> int:
        """The header's ``kspace_encoding_step_1/center``; readers derive the padding from it."""
        return self.encoded[1] // 2 - self.pe_first

    def header_xml(self) -> bytes:
        """The ISMRMRD header XML with this encoding."""
        root = ET.Element("ismrmrdHeader", xmlns=ISMRMRD_NAMESPACE)
        system = ET.SubElement(root, "acquisitionSystemInformation")
        ET.SubElement(system, "receiverChannels").text = str(self.num_coils)
        encoding = ET.SubElement(root, "encoding")
        for space, (x, y) in (("encodedSpace", self.encoded), ("reconSpace", self.recon)):
            matrix = ET.SubElement(ET.SubElement(encoding, space), "matrixSize")
            for axis, size in zip("xyz", (x, y, 1)):
                ET.SubElement(matrix, axis).text = str(size)
        limits = ET.SubElement(encoding, "encodingLimits")
        step = ET.SubElement(limits, "kspace_encoding_step_1")
        # fastMRI's readers take maximum + 1 as the acquired width starting at the left padding.
        for name, value in (
            ("minimum", 0),
            ("maximum", self.pe_last - self.pe_first),
            ("center", self.pe_center),
        ):
            ET.SubElement(step, name).text = str(value)
        return ET.tostring(root, xml_declaration=True, encoding="utf-8")


def write_volume(
    path: str | Path,
    kspace: np.ndarray,
    encoding: Encoding,
    attrs: Mapping[str, object],
    targets: Mapping[str, np.ndarray] | None = None,
    mask: np.ndarray | None = None,
    overwrite: bool = False,
) -> Path:
    """Writes one fastMRI-format volume atomically, marked as a dataset file of mri-recon's.

    Args:
        path: destination ``.h5`` file.
        kspace: complex k-space, (slices, H, W) singlecoil or (slices, coils, H, W) multicoil.
        encoding: matrix sizes and phase-encode limits for the ISMRMRD header.
        attrs: file attributes (``acquisition``, ``max``, ``norm``, ``patient_id``, ...).
        targets: target images (slices, h, w) by key (``reconstruction_rss``, ...).
        mask: 1-D sampling mask over phase-encode lines, for test-split files.
        overwrite: replace an existing dataset file of mri-recon's (never another file).

    Returns:
        ``path`` as a ``Path``.
    """
    with atomic_h5(path, DATASET, overwrite=overwrite) as hf:
        hf.create_dataset(KSPACE_KEY, data=kspace.astype(np.complex64))
        for key, target in (targets or {}).items():
            hf.create_dataset(key, data=target.astype(np.float32))
        if mask is not None:
            hf.create_dataset(MASK_KEY, data=mask.astype(bool))
        hf.create_dataset(HEADER_KEY, data=encoding.header_xml())
        hf.attrs.update(dict(attrs))
    return Path(path)
