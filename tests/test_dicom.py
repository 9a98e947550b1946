"""The DICOM writer: every file read back with pydicom (values, geometry, required attributes,
anonymization) and, where installed, checked by dicom3tools and dcmtk; bad sources refused
before anything is written; series folders written atomically and only over mri-recon's own."""

import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pydicom
import pytest

from mri_recon.data.file_check import BadFileError
from mri_recon.data.io import ForeignFileError
from mri_recon.data.marks import read_kind, writer_mark
from mri_recon.dicom import SeriesLabel, save_dicom_series, series_problem
from tests.dicom_checks import (
    FOV,
    STUDY,
    TOOLS,
    add_clinical_header,
    read_series,
    series_files,
    toolkit_problems,
)

LABEL = SeriesLabel("VarNet", Path("runs/epoch012-ssim0.8412.ckpt"))


@pytest.fixture
def source(small_multicoil: Path, tmp_path: Path) -> Path:
    """A test file of ``small_multicoil`` (3 slices, recon 32 x 32) with a clinical header."""
    file = sorted((small_multicoil / "multicoil_test").glob("*.h5"))[0]
    copy = Path(shutil.copy(file, tmp_path / file.name))
    add_clinical_header(copy)
    return copy


def volume(seed: int = 0, shape: tuple[int, int, int] = (3, 32, 32)) -> np.ndarray:
    """A magnitude-like volume at fastMRI's scale (about 1e-4)."""
    return (np.random.default_rng(seed).gamma(2.0, 2e-5, shape)).astype(np.float32)


def test_series_restores_the_values_and_carries_the_scan(source: Path, tmp_path: Path) -> None:
    vol = volume()
    folder = save_dicom_series(vol, tmp_path / "a_dicom", source, LABEL)
    assert [f.name for f in series_files(folder)] == [f"slice00{k}.dcm" for k in (1, 2, 3)]
    images, restored = read_series(folder)
    assert np.abs(restored - vol).max() <= 1e-4 * vol.max()
    first = images[0]
    assert first.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4" and first.Modality == "MR"
    assert (first.Rows, first.Columns, first.BitsAllocated, first.PixelRepresentation) == (
        32, 32, 16, 0
    )  # fmt: skip
    assert len({im.SOPInstanceUID for im in images}) == 3
    assert len({im.SeriesInstanceUID for im in images}) == 1
    assert [int(im.InstanceNumber) for im in images] == [1, 2, 3]
    assert first.SeriesDescription == "VarNet epoch012-ssim0.8412.ckpt"
    assert first.SoftwareVersions == writer_mark("dicom") and read_kind(folder) == "dicom"
    assert (str(first.PatientName), first.PatientID, first.PatientBirthDate) == (
        "Doe^Jane", "P-0042", "19800203"
    )  # fmt: skip
    study = (first.StudyDate, first.StudyTime, first.AccessionNumber)
    assert study == ("20240506", "101112", "123456")
    assert first.StudyInstanceUID == STUDY["studyInstanceUID"]  # joins the scan's study
    assert first.BodyPartExamined == "KNEE" and first.Laterality == ""
    assert toolkit_problems(folder) == []


def test_geometry_follows_the_raw_data(source: Path, tmp_path: Path) -> None:
    with h5py.File(source, "r") as hf:
        rows = hf["slice_geometry"][()].astype(np.float64)
    images, _ = read_series(save_dicom_series(volume(), tmp_path / "s", source, LABEL))
    spacing = (FOV[0] / 32, FOV[1] / 32)
    for k, image in enumerate(images):
        position, read, phase = rows[k, :3], rows[k, 3:6], rows[k, 6:9]
        assert np.allclose([float(v) for v in image.PixelSpacing], spacing)
        assert float(image.SliceThickness) == FOV[2]
        orientation = np.array([float(v) for v in image.ImageOrientationPatient])
        assert np.allclose(orientation, np.concatenate([phase, read]), atol=1e-6)
        # pixel (row i, column j) lies at position + (i - 16) * row spacing * read
        #                                          + (j - 16) * column spacing * phase
        corner = np.array([float(v) for v in image.ImagePositionPatient])
        i, j = 5, 27
        world = corner + i * spacing[0] * orientation[3:] + j * spacing[1] * orientation[:3]
        expected = position + (i - 16) * spacing[0] * read + (j - 16) * spacing[1] * phase
        assert np.allclose(world, expected, atol=1e-4)


def test_without_geometry_or_field_of_view_the_identity_frame(
    small_multicoil: Path, tmp_path: Path
) -> None:
    file = sorted((small_multicoil / "multicoil_test").glob("*.h5"))[0]  # simulator header
    images, _ = read_series(save_dicom_series(volume(), tmp_path / "s", file, LABEL))
    for k, image in enumerate(images):
        assert [float(v) for v in image.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
        assert [float(v) for v in image.ImagePositionPatient] == [-16.0, -16.0, float(k)]
        assert [float(v) for v in image.PixelSpacing] == [1.0, 1.0]
        assert str(image.PatientName) == "" and "StudyDescription" not in image
    assert toolkit_problems(tmp_path / "s") == []


def test_anonymize_blanks_patient_and_study(source: Path, tmp_path: Path) -> None:
    label = SeriesLabel("U-Net", None, anonymize=True)
    folder = save_dicom_series(volume(), tmp_path / "anon", source, label)
    images, _ = read_series(folder)
    for image in images:
        assert str(image.PatientName) == "" and image.PatientID == "" and image.StudyDate == ""
        assert image.PatientBirthDate == "" and image.AccessionNumber == ""
        assert "StudyDescription" not in image and "PatientWeight" not in image
        assert image.StudyInstanceUID != STUDY["studyInstanceUID"]
        assert image.PatientIdentityRemoved == "YES" and image.SeriesDescription == "U-Net"
    raw = b"".join(f.read_bytes() for f in series_files(folder))
    assert b"Doe" not in raw and b"P-0042" not in raw and b"123456" not in raw
    assert toolkit_problems(folder) == []


def test_negative_values_and_a_constant_volume(source: Path, tmp_path: Path) -> None:
    signed = volume() - 3e-5
    _, restored = read_series(save_dicom_series(signed, tmp_path / "a", source, LABEL))
    assert np.abs(restored - signed).max() <= 1e-4 * np.abs(signed).max()
    zeros = np.zeros((3, 32, 32))
    _, restored = read_series(save_dicom_series(zeros, tmp_path / "b", source, LABEL))
    assert not restored.any()


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"patientBirthdate": "3 Feb 1980"}, "subjectInformation/patientBirthdate is '3 Feb 1980'"),
        ({"studyInstanceUID": "1.2.abc"}, "not a valid DICOM UID"),
        ({"patientWeight_kg": "heavy"}, "patientWeight_kg is 'heavy': not a number"),
    ],
)
def test_a_header_dicom_cannot_hold_is_one_error_before_writing(
    small_multicoil: Path, tmp_path: Path, change: dict, problem: str
) -> None:
    file = Path(shutil.copy(sorted((small_multicoil / "multicoil_test").glob("*.h5"))[0], tmp_path))
    add_clinical_header(file, **change)
    with pytest.raises(BadFileError, match=problem) as caught:
        save_dicom_series(volume(), tmp_path / "s", file, LABEL)
    assert str(caught.value).startswith(f"{file}: ") and "\n" not in str(caught.value)
    assert not (tmp_path / "s").exists() and not list(tmp_path.glob(".s.*"))


def test_malformed_geometry_is_refused(source: Path, tmp_path: Path) -> None:
    with h5py.File(source, "a") as hf:
        rows = hf["slice_geometry"][()]
        del hf["slice_geometry"]
        hf["slice_geometry"] = rows[:2]
    with pytest.raises(BadFileError, match=r"slice_geometry has shape \(2, 12\), not \(3, 12\)"):
        save_dicom_series(volume(), tmp_path / "s", source, LABEL)
    with h5py.File(source, "a") as hf:
        del hf["slice_geometry"]
        rows[1, 3:6] *= 2
        hf["slice_geometry"] = rows
    with pytest.raises(BadFileError, match="a read_dir is not a unit vector"):
        save_dicom_series(volume(), tmp_path / "s", source, LABEL)
    assert not (tmp_path / "s").exists()


def test_series_folders_are_replaced_whole_and_only_when_ours(source: Path, tmp_path: Path) -> None:
    folder = save_dicom_series(volume(0), tmp_path / "s", source, LABEL)
    with pytest.raises(FileExistsError, match="already exists"):
        save_dicom_series(volume(1), folder, source, LABEL)
    old = {f.name: f.read_bytes() for f in series_files(folder)}
    save_dicom_series(volume(1), folder, source, LABEL, overwrite=True)
    assert {f.name for f in series_files(folder)} == set(old)
    assert all(f.read_bytes() != old[f.name] for f in series_files(folder))
    assert series_problem(folder, volume(1)) is None
    problem = series_problem(folder, volume(0))
    assert problem == "slice001.dcm does not hold the reconstruction's values"
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.name, "s"]  # no temporary left
    (folder / "notes.txt").write_text("mine\n")  # now not only mri-recon's
    with pytest.raises(ForeignFileError, match="is a folder"):
        save_dicom_series(volume(2), folder, source, LABEL, overwrite=True)
    assert (folder / "notes.txt").read_text() == "mine\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ForeignFileError):
        save_dicom_series(volume(2), empty, source, LABEL, overwrite=True)


def test_an_unsound_series_is_named(source: Path, tmp_path: Path) -> None:
    vol = volume()
    folder = save_dicom_series(vol, tmp_path / "s", source, LABEL)
    (folder / "slice002.dcm").unlink()
    assert series_problem(folder, vol) == "holds 2 image(s), not 3"
    assert read_kind(folder) == "dicom"  # still ours: a rerun redoes it
    save_dicom_series(vol, folder, source, LABEL, overwrite=True)
    damaged = folder / "slice003.dcm"
    damaged.write_bytes(damaged.read_bytes()[:-100])
    assert series_problem(folder, vol) == "slice003.dcm is unreadable (ValueError)"
    assert pydicom.dcmread(damaged, stop_before_pixels=True).SoftwareVersions  # mark intact


def test_a_dead_writers_temporary_folder_is_removed(source: Path, tmp_path: Path) -> None:
    pid = os.getpid()
    while True:  # a process id that is not running
        pid += 1
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        except OSError:
            continue
    import socket

    host = socket.gethostname().replace(".", "_")
    leftover = tmp_path / f".s.mri-recon-{host}-{pid}.abc123.tmp"
    leftover.mkdir()
    (leftover / "slice001.dcm").write_bytes(b"partial")
    save_dicom_series(volume(), tmp_path / "s", source, LABEL)
    assert not leftover.exists() and (tmp_path / "s").is_dir()


@pytest.mark.skipif(
    not all(shutil.which(tool) for tool in TOOLS),
    reason="dcmtk and dicom3tools are not installed (make test installs them with apt-get where "
    "it can); the series are checked with pydicom's validation alone",
)
def test_the_independent_toolkits_find_no_error_and_do_find_one(source: Path, tmp_path: Path):
    folder = save_dicom_series(volume(), tmp_path / "s", source, LABEL)
    assert toolkit_problems(folder) == []
    broken = pydicom.dcmread(folder / "slice002.dcm")
    del broken.ImageOrientationPatient  # type 1 in the MR image IOD
    broken.save_as(folder / "slice002.dcm")
    problems = toolkit_problems(folder)
    assert problems and all(p.startswith("slice002.dcm: Error") for p in problems), problems
