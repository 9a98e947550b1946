"""NIfTI output read back with nibabel: values, orientation, affine, suffixes, atomic writes."""

import gzip
import sys
from pathlib import Path

import nibabel
import numpy as np
import pytest

from mri_recon.nifti import NIBABEL_MISSING, save_nifti


def volume(shape: tuple[int, int, int] = (3, 5, 4)) -> np.ndarray:
    return np.random.default_rng(0).uniform(0.0, 2.0, shape)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
def test_round_trip_values_and_axes(tmp_path: Path, suffix: str) -> None:
    vol = volume()
    path = save_nifti(vol, tmp_path / f"recon{suffix}", spacing=(0.5, 0.7, 3.0))
    assert path == tmp_path / f"recon{suffix}"
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".nii.gz")
    image = nibabel.load(path)
    data = np.asarray(image.dataobj)
    assert data.dtype == np.float32
    assert data.shape == (4, 5, 3)  # (x, y, z) = (W, H, slices)
    expected = vol.astype(np.float32).transpose(2, 1, 0)[:, ::-1, :]
    assert np.array_equal(data, expected)
    assert np.allclose(image.affine, np.diag([0.5, 0.7, 3.0, 1.0]))
    assert np.allclose(image.get_qform(), image.affine)
    assert image.header.get_zooms() == pytest.approx((0.5, 0.7, 3.0))
    assert image.header.get_xyzt_units()[0] == "mm"
    assert nibabel.aff2axcodes(image.affine) == ("R", "A", "S")


def test_marker_voxel_lands_where_the_convention_says(tmp_path: Path) -> None:
    vol = np.zeros((6, 10, 8), np.float32)
    vol[4, 1, 6] = 7.0  # slice 4, near the image's top (row 1), right half (column 6)
    image = nibabel.load(save_nifti(vol, tmp_path / "marker.nii.gz", spacing=(2.0, 3.0, 5.0)))
    data = np.asarray(image.dataobj)
    ijk = np.argwhere(data == 7.0)
    assert ijk.tolist() == [[6, 10 - 1 - 1, 4]]  # column -> x, flipped row -> y, slice -> z
    world = image.affine @ np.array([*ijk[0], 1.0])
    assert world[:3].tolist() == [12.0, 24.0, 20.0]  # top of the image at large +y (anterior)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("recon.nii.gz", {"vol": np.zeros((4, 5))}, r"volume: .*\(slices, H, W\).*\(4, 5\)"),
        ("recon.nii.gz", {"vol": np.zeros((2, 4, 5), np.complex64)}, "volume: expected real"),
        ("recon.nii.gz", {"spacing": (1.0, 0.0, 1.0)}, "spacing: expected 3 positive"),
        ("recon.nii.gz", {"spacing": (1.0, 1.0)}, "spacing: expected 3 positive"),
        ("recon.h5", {}, r"recon\.h5: a NIfTI file name must end in \.nii\.gz or \.nii"),
        ("recon.gz", {}, r"recon\.gz: a NIfTI file name must end"),
        (".nii.gz", {}, "a NIfTI file name must end"),
    ],
)
def test_bad_input_is_refused_before_writing(
    tmp_path: Path, name: str, kwargs: dict, message: str
) -> None:
    vol = kwargs.pop("vol", volume())
    with pytest.raises(ValueError, match=message):
        save_nifti(vol, tmp_path / name, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_existing_file_is_kept_unless_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "recon.nii.gz"
    save_nifti(np.ones((1, 2, 2)), path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="already exists"):
        save_nifti(np.zeros((1, 2, 2)), path)
    assert path.read_bytes() == before
    save_nifti(np.zeros((1, 2, 2)), path, overwrite=True)
    assert np.asarray(nibabel.load(path).dataobj).max() == 0.0
    assert [p.name for p in tmp_path.iterdir()] == ["recon.nii.gz"]


def test_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "taken.nii.gz"
    path.mkdir()  # the final rename onto a folder fails after the bytes were written
    with pytest.raises(OSError):
        save_nifti(volume(), path, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["taken.nii.gz"]


def test_gzip_file_holds_the_same_bytes_as_the_plain_file(tmp_path: Path) -> None:
    compressed = save_nifti(volume(), tmp_path / "a.nii.gz").read_bytes()
    plain = save_nifti(volume(), tmp_path / "a.nii").read_bytes()
    assert gzip.decompress(compressed) == plain
    assert save_nifti(volume(), tmp_path / "b.nii.gz").read_bytes() == compressed  # no timestamp


def test_missing_nibabel_gives_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "nibabel", None)  # makes `import nibabel` raise ImportError
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'mri-recon\[nifti\]'"):
        save_nifti(volume(), tmp_path / "recon.nii.gz")
    assert NIBABEL_MISSING.startswith("--nifti needs nibabel")
    assert list(tmp_path.iterdir()) == []
