"""VarNetDataTransform against fastmri's on real slices; singlecoil, fully sampled and seeding."""

from pathlib import Path

import fastmri
import fastmri.data.transforms as fastmri_transforms
import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from mri_recon.data import SliceDataset, VarNetDataTransform, VarNetSample, create_mask
from mri_recon.data.masks import MASK_TYPES


def assert_same_sample(ours: VarNetSample, theirs: fastmri_transforms.VarNetSample) -> None:
    assert isinstance(ours, VarNetSample) and ours._fields == theirs._fields
    for name in ("masked_kspace", "mask", "target"):
        mine, reference = getattr(ours, name), getattr(theirs, name)
        assert mine.dtype == reference.dtype and mine.shape == reference.shape, name
        assert torch.equal(mine, reference), name
    for name in ("num_low_frequencies", "fname", "slice_num", "max_value", "crop_size"):
        assert getattr(ours, name) == getattr(theirs, name), name


@pytest.mark.parametrize("mask_type", sorted(MASK_TYPES))
def test_same_as_fastmri_on_train_files(tmp_path: Path, write_fastmri_volume, mask_type):
    write_fastmri_volume(tmp_path / "vol.h5", "multicoil", num_slices=2)
    dataset = SliceDataset(tmp_path, "multicoil")
    ours = VarNetDataTransform("multicoil", create_mask(mask_type, [0.08, 0.04], [4, 8]))
    theirs = fastmri_transforms.VarNetDataTransform(create_mask(mask_type, [0.08, 0.04], [4, 8]))
    for i in range(len(dataset)):
        sample = ours(*dataset[i])
        assert_same_sample(sample, theirs(*dataset[i]))
        assert sample.masked_kspace.shape == (4, 40, 24, 2) and sample.crop_size == (16, 16)
        assert sample.num_low_frequencies > 0


def test_test_files_use_their_stored_mask(tmp_path: Path, write_fastmri_volume) -> None:
    write_fastmri_volume(tmp_path / "vol.h5", "multicoil", kind="test", num_slices=2)
    dataset = SliceDataset(tmp_path, "multicoil")
    theirs = fastmri_transforms.VarNetDataTransform()
    for mask_func in (None, create_mask("random", [0.08], [4])):  # never a second mask
        for i in range(len(dataset)):
            sample = VarNetDataTransform("multicoil", mask_func)(*dataset[i])
            assert_same_sample(sample, theirs(*dataset[i]))
            assert sample.num_low_frequencies == 0 and sample.target.dim() == 0


def test_singlecoil_slices_are_one_coil(tmp_path: Path, write_fastmri_volume) -> None:
    write_fastmri_volume(tmp_path / "vol.h5", "singlecoil", num_slices=1)
    raw = SliceDataset(tmp_path, "singlecoil")[0]
    mask_func = create_mask("random", [0.08], [4])
    sample = VarNetDataTransform("singlecoil", mask_func)(*raw)
    reference = fastmri_transforms.VarNetDataTransform(create_mask("random", [0.08], [4]))(*raw)
    assert sample.masked_kspace.shape == (1, 40, 24, 2) and sample.mask.shape == (1, 1, 24, 1)
    assert torch.equal(sample.masked_kspace[0], reference.masked_kspace)
    assert torch.equal(sample.mask[0], reference.mask)
    assert sample.num_low_frequencies == reference.num_low_frequencies


def test_fully_sampled_without_mask_function(tmp_path: Path, write_fastmri_volume) -> None:
    """Every acquired line sampled (none of the padding), the k-space float32 as stored."""
    write_fastmri_volume(tmp_path / "vol.h5", "multicoil", num_slices=1)
    kspace, mask, target, attrs, fname, slice_num = SliceDataset(tmp_path, "multicoil")[0]
    sample = VarNetDataTransform("multicoil")(
        kspace.astype(np.complex128), mask, target, attrs, fname, slice_num
    )
    assert sample.masked_kspace.dtype == torch.float32
    torch.testing.assert_close(sample.masked_kspace, fastmri_transforms.to_tensor(kspace))
    sampled = sample.mask.flatten()
    left, right = attrs["padding_left"], attrs["padding_right"]
    assert sampled[left:right].all() and not sampled[:left].any() and not sampled[right:].any()


def test_seeded_masks_are_fixed_per_volume(tmp_path: Path, write_fastmri_volume) -> None:
    write_fastmri_volume(tmp_path / "vol.h5", "multicoil", num_slices=2)
    dataset = SliceDataset(tmp_path, "multicoil")
    seeded = VarNetDataTransform("multicoil", create_mask("random", [0.08], [4]))
    masks = [seeded(*dataset[i]).mask for i in (0, 1, 0)]
    assert torch.equal(masks[0], masks[1]) and torch.equal(masks[0], masks[2])
    fresh = VarNetDataTransform("multicoil", create_mask("random", [0.08], [4]), use_seed=False)
    draws = [fresh(*dataset[0]).mask for _ in range(3)]
    assert not all(torch.equal(draws[0], draw) for draw in draws[1:])


def test_zero_filled_of_a_batch_is_fastmris_image(tmp_path: Path, write_fastmri_volume) -> None:
    write_fastmri_volume(tmp_path / "vol.h5", "multicoil", num_slices=2)
    dataset = SliceDataset(tmp_path, "multicoil")
    transform = VarNetDataTransform("multicoil", create_mask("equispaced", [0.08], [4]))
    batch = VarNetSample(*default_collate([transform(*dataset[i]) for i in range(2)]))
    images = fastmri.rss(fastmri.complex_abs(fastmri.ifft2c(batch.masked_kspace)), dim=1)
    expected = fastmri_transforms.center_crop(images, (16, 16))
    assert batch.image_size() == (16, 16)
    torch.testing.assert_close(batch.zero_filled(), expected)


def test_unknown_challenge() -> None:
    with pytest.raises(ValueError, match="challenge must be one of"):
        VarNetDataTransform("triplecoil")
