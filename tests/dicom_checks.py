"""Shared by the DICOM tests: fastMRI-layout files with a clinical header and geometry, and the
checks of written series (pydicom's validation always; dcmtk and dicom3tools where installed,
as ``make test`` installs them with apt-get when it can)."""

import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import numpy as np
import pydicom
from PIL import Image
from pydicom.config import strict_reading
from pydicom.dataset import validate_file_meta

from mri_recon.data.fastmri_format import ISMRMRD_NAMESPACE

NS = f"{{{ISMRMRD_NAMESPACE}}}"
SUBJECT = {"patientName": "Doe^Jane", "patientID": "P-0042", "patientBirthdate": "1980-02-03",
           "patientGender": "F", "patientWeight_kg": "61.5"}  # fmt: skip
STUDY = {"studyDate": "2024-05-06", "studyTime": "10:11:12", "studyID": "S7",
         "accessionNumber": "123456", "studyDescription": "Knee MRI",
         "studyInstanceUID": "1.2.3.4.5.6.7", "bodyPartExamined": "KNEE"}  # fmt: skip
TOOLS = ("dciodvfy", "dcmdump", "dcm2pnm")  # dicom3tools, dcmtk (Debian's; see make dicom-tools)
FOV = (140.0, 120.0, 3.0)  # reconSpace fieldOfView_mm x (readout), y (phase), z
REQUIRED = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
            "FrameOfReferenceUID", "Modality", "InstanceNumber", "Rows", "Columns",
            "PixelSpacing", "ImageOrientationPatient", "ImagePositionPatient", "SliceThickness",
            "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation", "SamplesPerPixel",
            "PhotometricInterpretation", "RescaleSlope", "RescaleIntercept", "ImageType",
            "ScanningSequence", "SequenceVariant", "MRAcquisitionType", "SeriesDescription",
            "PatientName", "PatientID", "StudyDate", "SoftwareVersions")  # fmt: skip


def rotation(seed: int = 3) -> np.ndarray:
    """An oblique orthonormal frame (columns: read, phase, slice directions)."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


def add_clinical_header(file: Path, geometry: bool = True, **replace_fields: str) -> np.ndarray:
    """Adds subject and study information and a recon field of view to ``file``'s header, and
    (with ``geometry``) an oblique ``slice_geometry``; returns the geometry rows."""
    with h5py.File(file, "a") as hf:
        root = ET.fromstring(hf["ismrmrd_header"][()])
        slices = hf["kspace"].shape[0]
        for section, fields in (("subjectInformation", SUBJECT), ("studyInformation", STUDY)):
            element = ET.SubElement(root, NS + section)
            for key, value in {**fields, **replace_fields}.items():
                if key in fields:
                    ET.SubElement(element, NS + key).text = value
        recon = root.find(f"{NS}encoding/{NS}reconSpace")
        fov = ET.SubElement(recon, NS + "fieldOfView_mm")
        for axis, value in zip("xyz", FOV):
            ET.SubElement(fov, NS + axis).text = str(value)
        del hf["ismrmrd_header"]
        hf["ismrmrd_header"] = ET.tostring(root)
        frame = rotation()
        rows = np.array(
            [[*(np.array([10.0, -20.0, 5.0]) + 4.0 * k * frame[:, 2]), *frame.T.ravel()]
             for k in range(slices)], np.float32,
        )  # fmt: skip
        if geometry:
            hf["slice_geometry"] = rows
    return rows


def series_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.dcm"))


def read_series(folder: Path) -> tuple[list[pydicom.Dataset], np.ndarray]:
    """The images of a series, read with pydicom's strict value validation and file-meta check,
    and the volume they restore (stored * slope + intercept), in instance order."""
    images = []
    for file in series_files(folder):
        with strict_reading():
            image = pydicom.dcmread(file)
        validate_file_meta(image.file_meta)
        for keyword in REQUIRED:
            assert keyword in image, (file, keyword)
        images.append(image)
    images.sort(key=lambda image: int(image.InstanceNumber))
    restored = np.stack(
        [im.pixel_array * float(im.RescaleSlope) + float(im.RescaleIntercept) for im in images]
    )
    return images, restored


def toolkit_problems(folder: Path) -> list[str]:
    """What dicom3tools' ``dciodvfy`` calls errors, what dcmtk's ``dcmdump`` and ``dcm2pnm``
    cannot read, and decoded pixels that are not a linear map of the stored ones (tools that
    are not installed are left out)."""
    problems = []
    for file in series_files(folder):
        if shutil.which("dciodvfy"):
            result = subprocess.run(["dciodvfy", str(file)], capture_output=True, text=True)
            problems += [f"{file.name}: {line}" for line in result.stderr.splitlines()
                         if line.startswith("Error")]  # fmt: skip
        if shutil.which("dcmdump"):
            result = subprocess.run(["dcmdump", "-q", str(file)], capture_output=True, text=True)
            if result.returncode != 0 or "E:" in result.stderr:
                problems.append(f"{file.name}: dcmdump: {result.stderr.strip()}")
        if shutil.which("dcm2pnm"):
            with tempfile.TemporaryDirectory() as folder:
                png = Path(folder) / "slice.png"
                result = subprocess.run(["dcm2pnm", "+on2", str(file), str(png)],
                                        capture_output=True, text=True)  # fmt: skip
                if result.returncode != 0 or "E:" in result.stderr:
                    problems.append(f"{file.name}: dcm2pnm: {result.stderr.strip()}")
                    continue
                decoded = np.asarray(Image.open(png), dtype=np.float64).ravel()
            stored = pydicom.dcmread(file).pixel_array.astype(np.float64).ravel()
            fit = np.polyfit(stored, decoded, 1)
            if np.abs(np.polyval(fit, stored) - decoded).max() > 1.0:
                problems.append(f"{file.name}: dcm2pnm's pixels are not the stored ones")
    return problems
