"""Every kind of source (phantom, .npy 2-D/3-D, NIfTI file and folder, MNI152) and bad sources."""

import socket
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from data_prep.sources import SourceError, open_source
from data_prep.variation import choose_slices, foreground_slices, vary_stack


def check_volume(volume: np.ndarray, slices: int, size: int) -> None:
    assert volume.shape == (slices, size, size) and volume.dtype == np.float32
    assert volume.min() >= 0 and volume.max() == pytest.approx(1.0)


def test_phantoms_are_random_volumes_with_coherent_slices() -> None:
    source = open_source("phantom")
    assert source.kind == "phantom" and source.acquisition == "CORPD_FBK"
    first = source.volume(np.random.default_rng(0), 0, 6, 48)
    second = source.volume(np.random.default_rng(1), 1, 6, 48)
    check_volume(first, 6, 48)
    assert not np.allclose(first, second)
    # Neighbouring slices cut the same ellipsoids: closer to each other than to the other volume.
    assert np.abs(first[2] - first[3]).mean() < np.abs(first[2] - second[2]).mean()


def test_npy_2d_image_gives_single_slice_volumes(tmp_path: Path) -> None:
    image = np.zeros((50, 40), dtype=np.float64)
    image[10:40, 8:30] = 3.0
    np.save(tmp_path / "image.npy", image)
    source = open_source(str(tmp_path / "image.npy"))
    assert source.kind == "npy" and source.stacks[0].ndim == 3
    check_volume(source.volume(np.random.default_rng(0), 0, 4, 32), 1, 32)


def test_npy_3d_stack_gives_varied_volumes(tmp_path: Path) -> None:
    stack = np.random.default_rng(0).uniform(0, 1, size=(12, 30, 36)).astype(np.float32)
    np.save(tmp_path / "stack.npy", stack)
    source = open_source(str(tmp_path / "stack.npy"))
    first = source.volume(np.random.default_rng(1), 0, 4, 32)
    second = source.volume(np.random.default_rng(2), 1, 4, 32)
    check_volume(first, 4, 32)
    assert not np.allclose(first, second)


def write_nifti(path: Path, shape: tuple[int, int, int]) -> np.ndarray:
    """A RAS volume whose anterior half (high y) is bright and posterior half dim."""
    data = np.full(shape, 0.2, dtype=np.float32)
    data[:, shape[1] // 2 :, :] = 1.0
    nib.save(nib.Nifti1Image(data, affine=np.eye(4)), path)
    return data


def test_nifti_file_is_read_as_axial_slices_anterior_up(tmp_path: Path) -> None:
    write_nifti(tmp_path / "head.nii.gz", (20, 24, 9))
    source = open_source(str(tmp_path / "head.nii.gz"))
    stack = source.stacks[0]
    assert source.kind == "nifti" and stack.shape[0] == 9
    assert stack[:, : stack.shape[1] // 2].mean() > stack[:, stack.shape[1] // 2 :].mean()
    check_volume(source.volume(np.random.default_rng(0), 0, 3, 32), 3, 32)


def test_nifti_folder_cycles_over_files(tmp_path: Path) -> None:
    write_nifti(tmp_path / "a.nii", (16, 16, 5))
    write_nifti(tmp_path / "b.nii.gz", (20, 20, 7))
    (tmp_path / "notes.txt").write_text("not an image")
    source = open_source(str(tmp_path))
    assert [s.shape[0] for s in source.stacks] == [5, 7]
    check_volume(source.volume(np.random.default_rng(0), 1, 7, 24), 7, 24)


def test_mni152_loads_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> None:
        raise OSError("network access during the MNI152 load")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    source = open_source("mni152")
    assert source.kind == "mni152" and source.acquisition == "AXT1"
    assert source.stacks[0].shape[0] > 150  # 1 mm axial slices of a whole head
    check_volume(source.volume(np.random.default_rng(0), 0, 5, 64), 5, 64)


def test_slice_choice_is_evenly_spaced_inside_the_foreground() -> None:
    stack = np.zeros((40, 8, 8))
    stack[10:30] = 1.0
    assert foreground_slices(stack) == (10, 29)
    for seed in range(10):
        indices = choose_slices(np.random.default_rng(seed), stack, 5)
        assert len(indices) == 5 and indices[0] >= 10 and indices[-1] <= 29
        assert len(set(np.diff(indices))) == 1
    np.testing.assert_array_equal(choose_slices(np.random.default_rng(0), stack[:3], 5), [0, 1, 2])
    single = np.zeros((6, 4, 4))
    single[2] = 1.0
    np.testing.assert_array_equal(choose_slices(np.random.default_rng(0), single, 1), [2])


def test_vary_stack_resamples_to_the_requested_size() -> None:
    stack = np.ones((4, 20, 30), dtype=np.float32)
    volume = vary_stack(np.random.default_rng(0), stack, 2, 40)
    check_volume(volume, 2, 40)
    # The image is fitted with its aspect kept: a wide image leaves rows empty above and below.
    assert volume[:, 0].max() == 0 and volume[:, 20, 10:30].min() > 0.9


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("garbage.nii", b"not a nifti file", "not a readable NIfTI"),
        ("garbage.npy", b"not an array", "not a readable .npy"),
        ("notes.txt", b"text", "unknown file type"),
    ],
)
def test_unreadable_files_are_refused(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(SourceError, match=message) as error:
        open_source(str(tmp_path / name))
    assert str(error.value).startswith(f"--source {tmp_path / name}")


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.ones(10), "2-D or 3-D"),
        (np.full((8, 8), np.nan), "NaN"),
        (np.zeros((8, 8)), "all zeros"),
    ],
)
def test_bad_arrays_are_refused(tmp_path: Path, array: np.ndarray, message: str) -> None:
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(SourceError, match=message):
        open_source(str(tmp_path / "bad.npy"))


def test_unknown_missing_and_empty_sources_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="--source shepp: no such file"):
        open_source("shepp")
    with pytest.raises(SourceError, match="no .nii or .nii.gz files"):
        open_source(str(tmp_path))
