"""UnetDataTransform against fastmri's on real slices, plus float32 FFTs, padding and seeding.

The plain path (``fast=False``) must equal fastmri's transform bit for bit; the default fast path
(``mri_recon.data.kspace_image``) equals it to float32 rounding.
"""

import itertools
from pathlib import Path

import fastmri.data.transforms as fastmri_transforms
import numpy as np
import pytest
import torch

from mri_recon.data import SliceDataset, UnetDataTransform, UnetSample, create_mask
from mri_recon.data.masks import MASK_TYPES


def assert_same_sample(
    ours: UnetSample, theirs: fastmri_transforms.UnetSample, exact: bool = True
) -> None:
    assert isinstance(ours, UnetSample) and ours._fields == theirs._fields
    for name in ("image", "target", "mean", "std"):
        mine, reference = getattr(ours, name), getattr(theirs, name)
        assert mine.dtype == reference.dtype and mine.shape == reference.shape, name
        if exact:
            assert torch.equal(mine, reference), name
        else:  # float32 rounding of a normalised image (values up to the clamp, 6)
            torch.testing.assert_close(mine, reference, rtol=1e-5, atol=1e-5, msg=name)
    assert (ours.fname, ours.slice_num, ours.max_value) == (
        theirs.fname,
        theirs.slice_num,
        theirs.max_value,
    )


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("challenge", ["singlecoil", "multicoil"])
@pytest.mark.parametrize("mask_type", [None, *sorted(MASK_TYPES)])
def test_same_as_fastmri_on_train_files(
    tmp_path: Path, write_fastmri_volume, challenge, mask_type, fast
):
    write_fastmri_volume(tmp_path / "vol.h5", challenge, num_slices=2)
    dataset = SliceDataset(tmp_path, challenge)
    if mask_type is None:
        ours = UnetDataTransform(challenge, fast=fast)
        theirs = fastmri_transforms.UnetDataTransform(challenge)
    else:
        ours = UnetDataTransform(challenge, create_mask(mask_type, [0.08, 0.04], [4, 8]), fast=fast)
        theirs = fastmri_transforms.UnetDataTransform(
            challenge, create_mask(mask_type, [0.08, 0.04], [4, 8])
        )
    for i in range(len(dataset)):
        sample = ours(*dataset[i])
        assert_same_sample(sample, theirs(*dataset[i]), exact=not fast)
        assert sample.image.shape == sample.target.shape == (16, 16)
        assert sample.image.dtype == torch.float32
        assert sample.image.abs().max() <= 6


@pytest.mark.parametrize("challenge", ["singlecoil", "multicoil"])
def test_test_files_use_their_stored_mask(tmp_path: Path, write_fastmri_volume, challenge) -> None:
    write_fastmri_volume(tmp_path / "vol.h5", challenge, kind="test", num_slices=2)
    dataset = SliceDataset(tmp_path, challenge)
    theirs = fastmri_transforms.UnetDataTransform(challenge)
    for mask_func, fast in itertools.product((None, create_mask("random", [0.08], [4])), (0, 1)):
        ours = UnetDataTransform(challenge, mask_func, fast=bool(fast))
        for i in range(len(dataset)):
            sample = ours(*dataset[i])
            assert_same_sample(sample, theirs(*dataset[i]), exact=not fast)
            assert sample.image.shape == (16, 16)
            assert torch.equal(sample.target, torch.Tensor([0]))


def test_seeded_masks_are_fixed_per_volume(tmp_path: Path, write_fastmri_volume) -> None:
    write_fastmri_volume(tmp_path / "vol.h5", "singlecoil", num_slices=1)
    kspace, mask, target, attrs, fname, slice_num = SliceDataset(tmp_path, "singlecoil")[0]
    seeded = UnetDataTransform("singlecoil", create_mask("random", [0.08], [4]))
    first = seeded.masked_kspace(kspace, mask, attrs, fname)
    assert torch.equal(first, seeded.masked_kspace(kspace, mask, attrs, fname))
    expected, _, _ = fastmri_transforms.apply_mask(
        fastmri_transforms.to_tensor(kspace),
        create_mask("random", [0.08], [4]),
        seed=tuple(map(ord, "vol.h5")),
    )
    assert torch.equal(first, expected)
    assert not torch.equal(first, seeded.masked_kspace(kspace, mask, attrs, "other.h5"))
    fresh = UnetDataTransform("singlecoil", create_mask("random", [0.08], [4]), use_seed=False)
    draws = [fresh.masked_kspace(kspace, mask, attrs, fname) for _ in range(3)]
    assert not all(torch.equal(draws[0], draw) for draw in draws[1:])


def test_fast_path_keeps_the_columns_the_mask_keeps() -> None:
    """The same draw of the same mask (seeded, padded) as the plain path, at fastMRI's size."""
    rng = np.random.default_rng(1)
    kspace = (rng.standard_normal((4, 64, 46)) + 1j * rng.standard_normal((4, 64, 46))).astype(
        np.complex64
    )
    attrs = {"padding_left": 3, "padding_right": 41, "recon_size": (32, 32, 1)}
    for mask_type in sorted(MASK_TYPES):
        mask = create_mask(mask_type, [0.08], [4])
        plain, fast = (UnetDataTransform("multicoil", mask, fast=f) for f in (False, True))
        sampled = plain.masked_kspace(kspace, None, attrs, "v.h5").abs().sum(dim=(0, 1, 3)) > 0
        assert torch.equal(fast.kept_columns(kspace, None, attrs, "v.h5"), sampled.nonzero()[:, 0])
        exact, quick = (t(kspace, None, None, attrs, "v.h5", 0) for t in (plain, fast))
        assert_same_sample(quick, exact, exact=False)


def test_mask_respects_padding() -> None:
    rng = np.random.default_rng(0)
    kspace = (rng.standard_normal((3, 8, 20)) + 1j * rng.standard_normal((3, 8, 20))).astype(
        np.complex64
    )
    attrs = {"padding_left": 4, "padding_right": 15}
    transform = UnetDataTransform("multicoil", create_mask("equispaced", [0.2], [2]))
    masked = transform.masked_kspace(kspace, None, attrs, "vol.h5")
    sampled = masked.abs().sum(dim=(0, 1, 3)) > 0
    assert not sampled[:4].any() and not sampled[15:].any()
    assert sampled[4:15].any()
    unpadded = transform.masked_kspace(kspace, None, {}, "vol.h5")
    assert (unpadded.abs().sum(dim=(0, 1, 3)) > 0)[:4].any()


def test_fft_runs_in_float32(tmp_path: Path, write_fastmri_volume) -> None:
    write_fastmri_volume(tmp_path / "vol.h5", "multicoil", num_slices=1)
    kspace, mask, target, attrs, fname, slice_num = SliceDataset(tmp_path, "multicoil")[0]
    transform = UnetDataTransform("multicoil")  # the fast path: complex64 before any FFT
    double = transform(kspace.astype(np.complex128), mask, target, attrs, fname, slice_num)
    single = transform(kspace, mask, target, attrs, fname, slice_num)
    assert double.image.dtype == double.mean.dtype == torch.float32
    assert torch.equal(double.image, single.image)
    oracle = fastmri_transforms.UnetDataTransform("multicoil")(
        kspace.astype(np.complex128), mask, target, attrs, fname, slice_num
    )
    torch.testing.assert_close(double.image, oracle.image.float(), rtol=1e-4, atol=1e-4)


def test_flair_width_narrows_the_crop() -> None:
    kspace = np.ones((2, 40, 12), np.complex64)
    sample = UnetDataTransform("multicoil")(
        kspace, None, None, {"recon_size": (16, 16, 1)}, "flair.h5", 0
    )
    assert sample.image.shape == (12, 12)
    assert sample.max_value == 0.0


def test_unknown_challenge() -> None:
    with pytest.raises(ValueError, match="challenge must be one of"):
        UnetDataTransform("triplecoil")
