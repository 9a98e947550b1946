"""create_mask: bit-identical to fastmri's masks, with argument errors caught up front, and mask
settings checked against each k-space width before any slice is masked."""

from pathlib import Path

import pytest
import torch
from fastmri.data.subsample import create_mask_for_mask_type

from mri_recon.data import FastMriDataModule, create_mask
from mri_recon.data.masks import MASK_TYPES, check_mask_arguments, check_mask_widths


@pytest.mark.parametrize("mask_type", sorted(MASK_TYPES))
@pytest.mark.parametrize("shape", [(1, 368, 1), (4, 640, 322, 2)])
def test_bit_identical_to_fastmri(mask_type: str, shape: tuple[int, ...]) -> None:
    ours = create_mask(mask_type, [0.08, 0.04], [4, 8])
    theirs = create_mask_for_mask_type(mask_type, [0.08, 0.04], [4, 8])
    masks = set()
    for seed in [0, 1, 12345, (118, 111, 108, 46, 104, 53)]:
        mask, low = ours(shape, seed=seed)
        expected, expected_low = theirs(shape, seed=seed)
        assert mask.dtype == expected.dtype and mask.shape == expected.shape
        assert torch.equal(mask, expected) and low == expected_low
        assert 0 < mask.sum() < mask.numel()
        masks.add(tuple(mask.flatten().tolist()))
    assert len(masks) > 1


def test_unseeded_draws_follow_the_constructor_seed() -> None:
    ours = create_mask("random", [0.08], [4], seed=7)
    again = create_mask("random", [0.08], [4], seed=7)
    first = [ours((1, 100, 1))[0] for _ in range(3)]
    assert all(torch.equal(a, b) for a, b in zip(first, [again((1, 100, 1))[0] for _ in range(3)]))
    assert not torch.equal(first[0], first[1])


@pytest.mark.parametrize(
    ("mask_type", "fractions", "accelerations", "message"),
    [
        ("gaussian", [0.08], [4], "mask_type must be one of"),
        ("random", [0.08, 0.04], [4], "2 center_fractions and 1 accelerations"),
        ("random", [], [], "must be non-empty"),
        ("random", [0.08], [1], "accelerations must be integers >= 2, got 1"),
        ("random", [0.08], [2.5], "accelerations must be integers >= 2, got 2.5"),
        ("random", [0.0], [4], r"center_fractions must lie in \(0, 1\), got 0.0"),
        ("equispaced", [0.3], [4], "center_fractions: 0.3 leaves no room for acceleration 4"),
        ("magic", [0.08, 0.25], [4, 4], "0.25 leaves no room"),
    ],
)
def test_bad_arguments(mask_type, fractions, accelerations, message) -> None:
    with pytest.raises(ValueError, match=message):
        create_mask(mask_type, fractions, accelerations)


def test_check_returns_plain_lists() -> None:
    assert check_mask_arguments("random", (0.08, 0.04), (4.0, 8)) == ([0.08, 0.04], [4, 8])
    assert all(type(a) is int for a in check_mask_arguments("random", (0.08,), (4.0,))[1])


@pytest.mark.parametrize(
    ("mask_type", "fraction", "acceleration", "width"),
    [
        ("equispaced_fraction", 0.06, 16, 64),  # 4 centre lines x 16 = 64: fastmri divides by 0
        ("random", 0.06, 16, 32),  # 2 x 16 = 32: no line left to draw at random
        ("magic_fraction", 0.1, 8, 20),  # round(20 / 8) = 2 target lines, all in the centre
    ],
)
def test_mask_settings_that_leave_no_lines_for_a_width_are_refused(
    mask_type, fraction, acceleration, width
) -> None:
    expected = f"center_fractions: {fraction} at {acceleration}x leaves no lines to undersample "
    with pytest.raises(ValueError, match=f"{expected}in k-space {width} columns wide \\(f.h5\\)"):
        check_mask_widths(mask_type, [fraction], [acceleration], {width: "f.h5"})
    check_mask_widths(mask_type, [fraction], [acceleration], {320: "f.h5"})  # room enough


def test_the_datamodule_checks_mask_widths_before_any_batch(
    tmp_path: Path, write_fastmri_volume
) -> None:
    for split in ("train", "val"):
        write_fastmri_volume(tmp_path / f"singlecoil_{split}" / "v.h5", "singlecoil", cols=32)
    module = FastMriDataModule(tmp_path, "singlecoil", mask_type="equispaced_fraction",
                               center_fractions=(0.06,), accelerations=(16,))  # fmt: skip
    with pytest.raises(ValueError, match="32 columns wide .*singlecoil_train/v.h5"):
        module.setup("fit")
