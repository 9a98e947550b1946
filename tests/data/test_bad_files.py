"""Every kind of bad file raises one BadFileError naming the file, or is skipped on request."""

import os
import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from mri_recon.data import BadFileError, SliceDataset
from mri_recon.data.header import parse_header


def rewrite(path: Path, drop: str | None = None, **replace: object) -> None:
    """Rewrites a valid volume with one dataset dropped or replaced."""
    with h5py.File(path, "r") as hf:
        datasets = {key: hf[key][()] for key in hf}
        attrs = dict(hf.attrs)
    datasets.pop(drop, None)
    datasets.update(replace)
    with h5py.File(path, "w") as hf:
        for key, value in datasets.items():
            hf.create_dataset(key, data=value)
        hf.attrs.update(attrs)


def not_hdf5(path: Path) -> None:
    path.write_bytes(b"this is not an HDF5 file\n" * 10)


def truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def kspace_group(path: Path) -> None:
    rewrite(path, drop="kspace")
    with h5py.File(path, "a") as hf:
        hf.create_group("kspace")


def header_size(space: str, value: int, axis: str = "x"):
    """Sets the ``axis`` size of the header's ``space`` (reconSpace or encodedSpace) matrix."""

    def damage(path: Path) -> None:
        with h5py.File(path, "r") as hf:
            xml = hf["ismrmrd_header"][()].decode()
        pattern = f"(<{space}><matrixSize>.*?<{axis}>)\\d+"
        rewrite(path, ismrmrd_header=re.sub(pattern, f"\\g<1>{value}", xml).encode())

    return damage


def set_attribute(name: str, value: object):
    def damage(path: Path) -> None:
        with h5py.File(path, "a") as hf:
            hf.attrs[name] = value

    return damage


def header_without(field: str):
    def damage(path: Path) -> None:
        with h5py.File(path, "r") as hf:
            xml = hf["ismrmrd_header"][()].decode()
        rewrite(path, ismrmrd_header=re.sub(f"<{field}>.*?</{field}>", "", xml).encode())

    return damage


BAD_FILES = {
    "not hdf5": (not_hdf5, "not a readable HDF5 file"),
    "truncated": (truncated, "not a readable HDF5 file"),
    "no kspace": (lambda p: rewrite(p, drop="kspace"), "no 'kspace' dataset"),
    "kspace group": (kspace_group, "'kspace' is a Group, not a dataset"),
    "real kspace": (
        lambda p: rewrite(p, kspace=np.ones((3, 40, 24), np.float32)),
        "'kspace' must be complex, got dtype float32",
    ),
    "kspace ndim": (
        lambda p: rewrite(p, kspace=np.ones((3, 2, 40, 24), np.complex64)),
        r"'kspace' must be 3-D \(slices, rows, cols\) for singlecoil, got shape \(3, 2, 40, 24\)",
    ),
    "no slices": (
        lambda p: rewrite(
            p, kspace=np.ones((0, 40, 24), np.complex64), reconstruction_esc=np.ones((0, 16, 16))
        ),
        "'kspace' has no slices",
    ),
    "no header": (lambda p: rewrite(p, drop="ismrmrd_header"), "no 'ismrmrd_header' dataset"),
    "header not xml": (
        lambda p: rewrite(p, ismrmrd_header=b"<ismrmrdHeader><encoding>"),
        "ismrmrd_header is not valid XML",
    ),
    "header not text": (
        lambda p: rewrite(p, ismrmrd_header=np.arange(3)),
        "ismrmrd_header must be text, got ndarray",
    ),
    "header field missing": (
        header_without("center"),
        "ismrmrd_header lacks encoding/encodingLimits/kspace_encoding_step_1/center",
    ),
    "header recon size missing": (
        header_without("reconSpace"),
        "ismrmrd_header lacks encoding/reconSpace/matrixSize/x",
    ),
    "target slice count": (
        lambda p: rewrite(p, reconstruction_esc=np.ones((2, 16, 16), np.float32)),
        r"'reconstruction_esc' must have shape \(3, height, width\) to match 'kspace', "
        r"got \(2, 16, 16\)",
    ),
    "target ndim": (
        lambda p: rewrite(p, reconstruction_esc=np.ones((3, 256), np.float32)),
        r"'reconstruction_esc' must have shape \(3, height, width\).*got \(3, 256\)",
    ),
    "mask length": (
        lambda p: rewrite(p, mask=np.ones(20, bool)),
        r"'mask' must have shape \(24,\), got \(20,\)",
    ),
    "kspace without columns": (
        lambda p: rewrite(p, kspace=np.ones((3, 40, 0), np.complex64)),
        r"'kspace' has 0 columns: shape \(3, 40, 0\)",
    ),
    "header recon size 0": (
        header_size("reconSpace", 0),
        "ismrmrd_header encoding/reconSpace/matrixSize is 0 x 16: sizes must be positive",
    ),
    "header encoded size negative": (
        header_size("encodedSpace", -40),
        "encodedSpace/matrixSize is -40 x 24: sizes must be positive",
    ),
    "complex target": (
        lambda p: rewrite(p, reconstruction_esc=np.ones((3, 16, 16), np.complex64)),
        "'reconstruction_esc' must hold real floating-point images, got dtype complex64",
    ),
    "max attribute nan": (
        set_attribute("max", np.nan),
        r"attribute 'max' must be a finite number in \[0.0, 3.4e\+38\], got nan",
    ),
    "max attribute absurd": (
        set_attribute("max", 1e308),
        r"attribute 'max' must be a finite number in \[0.0, 3.4e\+38\], got 1e\+308",
    ),
    "max attribute text": (
        set_attribute("max", "high"),
        "attribute 'max' must be a number, got 'high'",
    ),
    "norm attribute infinite": (
        set_attribute("norm", np.inf),
        "attribute 'norm' must be a finite number in .*, got inf",
    ),
    "acquisition attribute huge": (
        set_attribute("acquisition", "x" * 2**20),
        "attribute 'acquisition' must be at most 256 characters, got 1048576",
    ),
    "acquisition attribute a number": (
        set_attribute("acquisition", 3),
        "attribute 'acquisition' must be text, got int",
    ),
    "acceleration attribute fractional": (
        set_attribute("acceleration", 4.5),
        "attribute 'acceleration' must be an integer, got 4.5",
    ),
    "num_low_frequency attribute negative": (
        set_attribute("num_low_frequency", -3),
        "attribute 'num_low_frequency' must be a finite integer >= 0, got -3",
    ),
    "header encoded width differs from the k-space": (
        header_size("encodedSpace", 640, axis="y"),
        "the header's encoded matrix is 640 columns wide but 'kspace' has 24",
    ),
    "header recon size beyond the k-space": (
        lambda p: rewrite(p, drop="reconstruction_esc") or header_size("reconSpace", 64)(p),
        "samples of 64x16 cannot be cut from the 40x24 k-space image",
    ),
    "broken link": (
        lambda p: (p.unlink(), p.symlink_to(p.parent / "gone.h5")),
        "broken symbolic link to .*gone.h5",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_raises_one_clear_error(tmp_path: Path, write_fastmri_volume, case) -> None:
    damage, problem = BAD_FILES[case]
    write_fastmri_volume(tmp_path / "good.h5", "singlecoil", seed=1)
    bad = write_fastmri_volume(tmp_path / "bad.h5", "singlecoil", seed=2)
    damage(bad)
    with pytest.raises(BadFileError) as info:
        SliceDataset(tmp_path, "singlecoil")
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "\n" not in message
    assert message.startswith(f"{bad}: ")
    assert re.search(problem, message), message
    assert info.value.path == bad


@pytest.mark.parametrize("case", ["truncated", "no kspace", "header field missing"])
def test_skip_bad_files_warns_and_keeps_the_good(tmp_path: Path, write_fastmri_volume, case):
    write_fastmri_volume(tmp_path / "good.h5", "singlecoil", seed=1)
    bad = write_fastmri_volume(tmp_path / "bad.h5", "singlecoil", seed=2)
    BAD_FILES[case][0](bad)
    with pytest.warns(UserWarning, match=f"skipping bad file {bad}: "):
        dataset = SliceDataset(tmp_path, "singlecoil", skip_bad_files=True)
    assert [s.fname.name for s in dataset.raw_samples] == ["good.h5"] * 3


def test_skip_bad_files_with_no_good_file_left(tmp_path: Path) -> None:
    not_hdf5(tmp_path / "bad.h5")
    with pytest.warns(UserWarning, match="skipping bad file"):
        with pytest.raises(ValueError, match="root: no usable files among the 1 in"):
            SliceDataset(tmp_path, "singlecoil", skip_bad_files=True)


def test_multicoil_needs_4d_kspace(tmp_path: Path, write_fastmri_volume) -> None:
    write_fastmri_volume(tmp_path / "single.h5", "singlecoil")
    with pytest.raises(BadFileError, match=r"must be 4-D \(slices, coils, rows, cols\)"):
        SliceDataset(tmp_path, "multicoil")


def test_file_broken_after_indexing_names_the_file(tmp_path: Path, write_fastmri_volume) -> None:
    path = write_fastmri_volume(tmp_path / "vol.h5", "singlecoil")
    dataset = SliceDataset(tmp_path, "singlecoil")
    truncated(path)
    with pytest.raises(BadFileError, match=f"{path}: cannot read slice 0"):
        dataset[0]


def test_parse_header_matches_the_written_encoding(tmp_path: Path, write_fastmri_volume) -> None:
    path = write_fastmri_volume(tmp_path / "vol.h5", "multicoil", cols=30)
    with h5py.File(path, "r") as hf:
        metadata = parse_header(hf["ismrmrd_header"][()])
    assert metadata == {
        "padding_left": 2,
        "padding_right": 28,
        "encoding_size": (40, 30, 1),
        "recon_size": (16, 16, 1),
    }


def test_look_alike_files_are_reported_not_silently_ignored(
    tmp_path: Path, write_fastmri_volume
) -> None:
    write_fastmri_volume(tmp_path / "good.h5", "singlecoil")
    for name in ("._good.h5", "upper.H5", "other.hdf5", ".hidden.h5"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "nested.h5").mkdir()
    os.mkfifo(tmp_path / "pipe.h5")  # opening it would block: it is never opened
    with pytest.warns(UserWarning) as caught:
        dataset = SliceDataset(tmp_path, "singlecoil")
    messages = [str(w.message) for w in caught]
    assert f"{tmp_path / 'nested.h5'}: a folder, not a file, ignored" in messages
    assert f"{tmp_path / 'pipe.h5'}: not a regular file (a pipe or a device), ignored" in messages
    assert f"{tmp_path / '._good.h5'}: macOS metadata file (not data), ignored" in messages
    assert f"{tmp_path / 'upper.H5'}: only .h5 files are read; rename it to read it" in messages
    assert f"{tmp_path / 'other.hdf5'}: only .h5 files are read; rename it to read it" in messages
    assert f"{tmp_path / '.hidden.h5'}: hidden file, ignored" in messages
    assert {s.fname.name for s in dataset.raw_samples} == {"good.h5"}
