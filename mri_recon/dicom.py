"""DICOM output of reconstructed volumes: one MR Image Storage series per volume, for PACS and
clinical viewers (pydicom 3).

A volume (slices, rows, columns) becomes a folder of ``slice001.dcm``, ``slice002.dcm``, ...: one
instance per slice (Instance Number = slice + 1), explicit VR little endian, 16-bit unsigned
pixels (MONOCHROME2) with one Rescale Slope and Intercept for the whole series, so that
``stored * slope + intercept`` restores every value to within half a step, (max - min) / 131070,
and a window of 0 to the volume's 99.5th percentile (the PNG previews' white level). Every
series gets fresh Series and SOP Instance UIDs, a Series Description naming the method and the
checkpoint, and the scan's spacing, geometry and header fields (``mri_recon.dicom_fields``).

The folder is written whole (``atomic_folder``) and is mri-recon's only while it holds nothing but
its marked ``.dcm`` files (Software Versions (0018,1020) = ``mri-recon <version> (dicom)``).
``series_problem`` tells a complete, sound series (kept on a rerun) from one to redo.
"""

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from mri_recon.data.finite import is_finite
from mri_recon.data.io import atomic_folder
from mri_recon.data.marks import writer_mark
from mri_recon.data.scan_info import read_scan_info
from mri_recon.dicom_fields import HEADER_ATTRIBUTES, geometry_attributes, header_attributes
from mri_recon.figures import white_level

DICOM = "dicom"  # the kind of output (mark)
SERIES_SUFFIX = "_dicom"  # OUT/<name>.h5 -> OUT/<name>_dicom/
MAX_STORED = 65535  # 16-bit unsigned pixels
RESTORE_TOLERANCE = 1e-4  # how close restored pixels must be, relative to the volume's maximum
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


@dataclass(frozen=True)
class SeriesLabel:
    """How a series was made, as its descriptions say.

    Attributes:
        method: the network's name (``U-Net``, ``VarNet``) or ``zero-filled``.
        checkpoint: the checkpoint used, if any.
        anonymize: leave out the patient's and the study's identifying fields.
    """

    method: str
    checkpoint: Path | None = None
    anonymize: bool = False

    def description(self) -> str:
        """The Series Description (64 characters at most)."""
        text = self.method + (f" {Path(self.checkpoint).name}" if self.checkpoint else "")
        return text[:64]


def series_folder(destination: Path) -> Path:
    """The series folder beside the output ``destination``: ``<stem>_dicom``."""
    return destination.with_name(destination.stem + SERIES_SUFFIX)


def quantize(volume: np.ndarray) -> tuple[np.ndarray, str, str]:
    """``volume`` as 16-bit stored values, and the slope and intercept (decimal strings, as
    stored) that restore it: intercept min(0, minimum), slope (maximum - intercept) / 65535."""
    from pydicom.valuerep import format_number_as_ds

    low, high = min(0.0, float(volume.min())), float(volume.max())
    intercept = format_number_as_ds(low)
    span = high - float(intercept)
    slope = format_number_as_ds(span / MAX_STORED) if span > 0 else "1"
    stored = np.rint((volume.astype(np.float64) - float(intercept)) / float(slope))
    return np.clip(stored, 0, MAX_STORED).astype(np.uint16), slope, intercept


def _series_attributes(volume: np.ndarray, label: SeriesLabel) -> dict[str, Any]:
    """What every image of the series shares, besides the scan's attributes."""
    from pydicom.uid import generate_uid
    from pydicom.valuerep import format_number_as_ds

    now = datetime.now()
    white = white_level(volume) or 1.0  # the figures' windowing rule; 1 for an empty volume
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    derivation = f"{label.description()}: reconstruction of undersampled k-space by mri-recon"
    return {
        "SpecificCharacterSet": "ISO_IR 192",
        "ImageType": ["DERIVED", "PRIMARY", "OTHER"],
        "SOPClassUID": MR_IMAGE_STORAGE,
        "Modality": "MR",
        "SeriesInstanceUID": generate_uid(),
        "StudyInstanceUID": generate_uid(),
        "FrameOfReferenceUID": generate_uid(),
        "PositionReferenceIndicator": "",
        "SeriesNumber": "1",
        "SeriesDescription": label.description(),
        "DerivationDescription": derivation,
        "SoftwareVersions": writer_mark(DICOM),
        "SeriesDate": date, "SeriesTime": time, "ContentDate": date, "ContentTime": time,
        "InstanceCreationDate": date, "InstanceCreationTime": time,
        "ScanningSequence": "RM", "SequenceVariant": "NONE", "ScanOptions": "",
        "MRAcquisitionType": "2D", "EchoTrainLength": "",
        "SamplesPerPixel": 1, "PhotometricInterpretation": "MONOCHROME2",
        "BitsAllocated": 16, "BitsStored": 16, "HighBit": 15, "PixelRepresentation": 0,
        "RescaleType": "US",
        "WindowCenter": format_number_as_ds(white / 2), "WindowWidth": format_number_as_ds(white),
        **({"VOILUTFunction": "LINEAR_EXACT"} if white < 1 else {}),  # LINEAR needs width >= 1
    }  # fmt: skip


def series_datasets(volume: np.ndarray, source: Path, label: SeriesLabel) -> list[Any]:
    """The DICOM images of ``volume`` (one ``pydicom.Dataset`` per slice), reconstructed from the
    fastMRI-layout file ``source`` (its header and geometry).

    Raises:
        ValueError: ``volume`` is not a finite real (slices, rows, columns) array.
        BadFileError: ``source``'s header or geometry cannot be used (one line, naming it).
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid

    volume = np.asarray(volume)
    if volume.ndim != 3 or volume.size == 0 or not np.isrealobj(volume):
        raise ValueError(f"volume: expected a real (slices, rows, columns) array: {volume.shape}")
    if not is_finite(volume):
        raise ValueError("volume: holds NaN or infinite values")
    scan = read_scan_info(source, volume.shape[0], tuple(HEADER_ATTRIBUTES))
    shared = {
        **_series_attributes(volume, label),
        **header_attributes(source, scan, label.anonymize),
    }
    stored, slope, intercept = quantize(volume)
    datasets = []
    for k, place in enumerate(geometry_attributes(scan, volume.shape)):
        dataset = Dataset()
        for keyword, value in {**shared, **place}.items():
            setattr(dataset, keyword, value)
        dataset.SOPInstanceUID = generate_uid()
        dataset.InstanceNumber = str(k + 1)
        dataset.Rows, dataset.Columns = volume.shape[1:]
        dataset.RescaleSlope, dataset.RescaleIntercept = slope, intercept
        dataset.PixelData = stored[k].tobytes()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
        meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        dataset.file_meta = meta
        datasets.append(dataset)
    return datasets


def check_dicom_source(source: str | Path, shape: tuple[int, int, int], label: SeriesLabel) -> None:
    """Checks, before any work, that a (slices, rows, columns) reconstruction of ``source`` can
    be written as a series: its header fields and geometry hold values DICOM can.

    Raises:
        BadFileError: one line naming ``source`` and the field at fault.
    """
    from pydicom.config import strict_reading

    with strict_reading():
        series_datasets(np.zeros(shape, np.float32), Path(source), label)


def slice_name(index: int, count: int) -> str:
    """The file name of slice ``index`` (from 0) of ``count``: ``slice001.dcm``, ..."""
    return f"slice{index + 1:0{max(3, len(str(count)))}d}.dcm"


def save_dicom_series(
    volume: np.ndarray,
    folder: str | Path,
    source: str | Path,
    label: SeriesLabel,
    overwrite: bool = False,
) -> Path:
    """Writes ``volume`` as one DICOM series into ``folder``, atomically and marked.

    Args:
        volume: (slices, rows, columns) reconstruction, real and finite.
        folder: the series folder (``series_folder``).
        source: the fastMRI-layout file it was reconstructed from (header, geometry).
        label: method, checkpoint, and whether to anonymize.
        overwrite: replace a series of mri-recon's there (never anything else).

    Returns:
        ``folder``.

    Raises:
        FileExistsError: ``folder`` exists and ``overwrite`` is false, or it is not mri-recon's.
        ValueError: a bad volume, or a source whose header or geometry cannot be used.
    """
    from pydicom.config import strict_reading

    folder, source = Path(folder), Path(source)
    with strict_reading():  # a value DICOM cannot hold is an error where it is set
        datasets = series_datasets(volume, source, label)
    with atomic_folder(folder, DICOM, overwrite=overwrite) as tmp:
        for k, dataset in enumerate(datasets):
            dataset.save_as(tmp / slice_name(k, len(datasets)), enforce_file_format=True)
    return folder


def series_problem(folder: Path, volume: np.ndarray) -> str | None:
    """Why the series in ``folder`` is not a sound copy of ``volume`` (``None`` when it is): a
    missing or unreadable image, another size, several series, or pixels that do not restore
    ``volume`` to ``RESTORE_TOLERANCE`` of its maximum."""
    import pydicom

    files = sorted(folder.glob("*.dcm"))
    if len(files) != volume.shape[0]:
        return f"holds {len(files)} image(s), not {volume.shape[0]}"
    tolerance = RESTORE_TOLERANCE * max(float(np.abs(volume).max()), np.finfo(np.float32).tiny)
    series = set()
    for k, file in enumerate(files):
        try:
            image = pydicom.dcmread(file)
            series.add(image.SeriesInstanceUID)
            number, pixels = int(image.InstanceNumber), image.pixel_array
            restored = pixels * float(image.RescaleSlope) + float(image.RescaleIntercept)
        except Exception as error:  # truncated or damaged, whatever pydicom says
            return f"{file.name} is unreadable ({type(error).__name__})"
        if file.name != slice_name(number - 1, len(files)) or pixels.shape != volume.shape[1:]:
            return (
                f"{file.name} is image {number} of shape {pixels.shape}, not slice {k + 1} of "
                f"shape {volume.shape[1:]}"
            )
        if np.abs(restored - volume[number - 1]).max() > tolerance:
            return f"{file.name} does not hold the reconstruction's values"
    return None if len(series) == 1 else f"mixes {len(series)} series"
