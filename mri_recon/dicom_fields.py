"""The attributes of mri-recon's DICOM images that come from the scan (``mri_recon.dicom`` writes
them): the ISMRMRD header's patient, study, equipment and sequence fields in DICOM's value
representations, and each slice's position and orientation.

Header fields: ``HEADER_ATTRIBUTES`` maps each ISMRMRD header path to its DICOM attribute. Text is
cut to its representation's longest value (LO 64 characters, SH 16, PN 64); a date, time, number
or UID that DICOM cannot hold is a one-line error naming the file and the field. ``anonymize``
blanks the fields that identify the patient or the study (type 2 attributes stay, empty; the
study and frame-of-reference UIDs are fresh) and records that it did.

Geometry (DICOM's patient coordinates, mm): a reconstruction's rows run along the readout and its
columns along the phase encoding, so with the file's ``slice_geometry`` the image orientation is
(``phase_dir``, ``read_dir``): the direction of increasing column index, then of increasing row
index. The slice's position is the centre of the field of view, where a centred FFT puts pixel
(rows // 2, columns // 2); the image position is the centre of pixel (0, 0). Without geometry the
orientation is the identity ((1, 0, 0), (0, 1, 0)), the image centred on the z axis and slice k at
z = k * slice thickness. Without a recon field of view in the header, pixels and slices are 1 mm.
"""

import re
from pathlib import Path
from typing import Any

import numpy as np

from mri_recon.data.file_check import BadFileError
from mri_recon.data.scan_info import ScanInfo

DEFAULT_SPACING = 1.0  # mm, where the header has no recon field of view
# ISMRMRD header path -> (DICOM keyword, value representation, identifies the patient or study).
HEADER_ATTRIBUTES = {
    "subjectInformation/patientName": ("PatientName", "PN", True),
    "subjectInformation/patientID": ("PatientID", "LO", True),
    "subjectInformation/patientBirthdate": ("PatientBirthDate", "DA", True),
    "subjectInformation/patientGender": ("PatientSex", "CS", True),
    "subjectInformation/patientWeight_kg": ("PatientWeight", "DS", True),
    "subjectInformation/patientHeight_m": ("PatientSize", "DS", True),
    "studyInformation/studyDate": ("StudyDate", "DA", True),
    "studyInformation/studyTime": ("StudyTime", "TM", True),
    "studyInformation/studyID": ("StudyID", "SH", True),
    "studyInformation/accessionNumber": ("AccessionNumber", "SH", True),
    "studyInformation/referringPhysicianName": ("ReferringPhysicianName", "PN", True),
    "studyInformation/studyDescription": ("StudyDescription", "LO", True),
    "studyInformation/studyInstanceUID": ("StudyInstanceUID", "UI", True),
    "studyInformation/bodyPartExamined": ("BodyPartExamined", "CS", False),
    "measurementInformation/patientPosition": ("PatientPosition", "CS", False),
    "measurementInformation/protocolName": ("ProtocolName", "LO", True),
    "measurementInformation/frameOfReferenceUID": ("FrameOfReferenceUID", "UI", True),
    "acquisitionSystemInformation/systemVendor": ("Manufacturer", "LO", False),
    "acquisitionSystemInformation/systemModel": ("ManufacturerModelName", "LO", False),
    "acquisitionSystemInformation/systemFieldStrength_T": ("MagneticFieldStrength", "DS", False),
    "acquisitionSystemInformation/institutionName": ("InstitutionName", "LO", True),
    "acquisitionSystemInformation/stationName": ("StationName", "SH", True),
    "sequenceParameters/TR": ("RepetitionTime", "DS", False),
    "sequenceParameters/TE": ("EchoTime", "DS", False),
    "sequenceParameters/flipAngle_deg": ("FlipAngle", "DS", False),
}
# Type 2 attributes: present in every image, empty when unknown or anonymized.
TYPE_2 = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
    "StudyID", "AccessionNumber", "ReferringPhysicianName", "Manufacturer", "PatientPosition",
    "RepetitionTime", "EchoTime",
)  # fmt: skip
TEXT_LENGTHS = {"LO": 64, "SH": 16, "PN": 64, "CS": 16}
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_TIME = re.compile(r"(\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?")
DEIDENTIFICATION = "mri-recon --anonymize: patient, study, institution blanked"
# Body parts that come in pairs: their images need Laterality (empty: unknown), as do images of
# an unknown part; those of another part must not have it.
PAIRED_PARTS = (
    "ANKLE", "ARM", "BREAST", "CLAVICLE", "EAR", "ELBOW", "EXTREMITY", "EYE", "FEMUR", "FOOT",
    "FOREARM", "HAND", "HIP", "HUMERUS", "KIDNEY", "KNEE", "LEG", "SHOULDER", "THIGH", "WRIST",
)  # fmt: skip


def _value(file: Path, path: str, vr: str, text: str) -> str | None:
    """The DICOM value of the header field ``path``, or ``None`` when nothing remains of it."""
    from pydicom import config
    from pydicom.uid import UID
    from pydicom.valuerep import format_number_as_ds

    problem = None
    if vr == "DA":
        found = _DATE.match(text)
        value, problem = ("".join(found.groups()), None) if found else (None, "not a date")
    elif vr == "TM":
        found = _TIME.match(text)
        value = "".join(g or "" for g in found.groups()) if found else None
        problem = None if found else "not a time"
    elif vr == "DS":
        try:
            value = format_number_as_ds(float(text.split()[0]))
        except (ValueError, IndexError):
            value, problem = None, "not a number"
    elif vr == "UI":
        value = text if UID(text, validation_mode=config.IGNORE).is_valid else None
        problem = None if value else "not a valid DICOM UID"
    else:
        if vr == "CS":
            text = re.sub(r"[^A-Z0-9 _]", "", text.upper()).strip()
        value = text.replace("\\", "/")[: TEXT_LENGTHS[vr]] or None
    if problem is not None:
        raise BadFileError(file, f"ismrmrd_header {path} is {text!r}: {problem}")
    return value


def header_attributes(file: Path, scan: ScanInfo, anonymize: bool) -> dict[str, Any]:
    """The DICOM attributes (by keyword) that the scan's header fields give, checked; with
    ``anonymize`` the identifying ones are left out and the blanking is recorded. Type 2
    attributes are always present (empty when unknown)."""
    attributes: dict[str, Any] = {keyword: "" for keyword in TYPE_2}
    for path, text in scan.fields.items():
        keyword, vr, identifying = HEADER_ATTRIBUTES[path]
        value = _value(file, path, vr, text)
        if value is not None and not (anonymize and identifying):
            attributes[keyword] = value
    if attributes.get("BodyPartExamined", PAIRED_PARTS[0]) in PAIRED_PARTS:  # may be paired
        attributes["Laterality"] = ""
    if anonymize:
        attributes.update(PatientIdentityRemoved="YES", DeidentificationMethod=DEIDENTIFICATION)
    return attributes


def _ds(values: Any) -> list[str]:
    """Numbers as DICOM decimal strings (16 characters at most)."""
    from pydicom.valuerep import format_number_as_ds

    return [format_number_as_ds(float(v)) for v in np.ravel(values)]


def geometry_attributes(scan: ScanInfo, shape: tuple[int, int, int]) -> list[dict[str, Any]]:
    """Per slice of a (slices, rows, columns) volume: pixel spacing, slice thickness, image
    position and orientation and slice location, as the module docstring says."""
    slices, rows, columns = shape
    row_spacing, column_spacing = scan.pixel_spacing or (DEFAULT_SPACING, DEFAULT_SPACING)
    thickness = scan.slice_thickness or DEFAULT_SPACING
    common = {
        "PixelSpacing": _ds([row_spacing, column_spacing]),
        "SliceThickness": _ds([thickness])[0],
    }
    if scan.geometry is not None:
        down, right = scan.geometry.read_dir, scan.geometry.phase_dir  # increasing row, column
        centre = scan.geometry.position
    else:
        right = np.tile([1.0, 0.0, 0.0], (slices, 1))
        down = np.tile([0.0, 1.0, 0.0], (slices, 1))
        centre = np.outer(np.arange(slices) * thickness, [0.0, 0.0, 1.0])
        common["SpacingBetweenSlices"] = common["SliceThickness"]
    corner = centre - (rows // 2) * row_spacing * down - (columns // 2) * column_spacing * right
    normal = np.cross(right, down)
    return [
        {
            **common,
            "ImageOrientationPatient": _ds(np.concatenate([right[k], down[k]])),
            "ImagePositionPatient": _ds(corner[k]),
            "SliceLocation": _ds([corner[k] @ normal[k]])[0],
        }
        for k in range(slices)
    ]
