"""EpochShuffleSampler + EpochSeededDataset: order and masks are a function of (seed, epoch)."""

from pathlib import Path

import pytest
import torch
from torch.utils.data import DistributedSampler

from mri_recon.data import FastMriDataModule
from mri_recon.data.epoch_sampler import EpochShuffleSampler


@pytest.fixture
def data_path(tmp_path: Path, write_fastmri_volume) -> Path:
    for split in ("train", "val"):
        for seed in range(2):
            path = tmp_path / f"singlecoil_{split}" / f"{split}{seed}.h5"
            write_fastmri_volume(path, "singlecoil", num_slices=3, seed=seed)
    return tmp_path


def epoch_batches(data_path: Path, epoch: int, num_workers: int) -> list[tuple]:
    """(slice order, masked images) of one training epoch from a freshly built module."""
    module = FastMriDataModule(data_path, "singlecoil", num_workers=num_workers)
    loader = module.train_dataloader()
    loader.sampler.set_epoch(epoch)
    return [(batch.fname[0], int(batch.slice_num), batch.image) for batch in loader]


def test_a_permutation_that_changes_with_the_epoch():
    sampler = EpochShuffleSampler(range(50), seed=3)
    first = list(sampler)
    assert [epoch for epoch, _ in first] == [0] * 50 and len(sampler) == 50
    assert sorted(index for _, index in first) == list(range(50))
    sampler.set_epoch(1)
    second = [index for _, index in sampler]
    assert sorted(second) == list(range(50)) and second != [index for _, index in first]
    sampler.set_epoch(0)
    assert list(sampler) == first == list(sampler)
    assert list(EpochShuffleSampler(range(50), seed=4)) != first


def test_processes_share_out_torchs_distributed_order():
    """Two ranks split the permutation DistributedSampler would give; together they cover all."""
    shards = [EpochShuffleSampler(range(11), seed=5, num_replicas=2, rank=r) for r in (0, 1)]
    for shard in shards:
        shard.set_epoch(2)
    reference = DistributedSampler(range(11), num_replicas=2, rank=0, shuffle=True, seed=5)
    reference.set_epoch(2)
    assert [index for _, index in shards[0]] == list(reference)
    covered = {index for shard in shards for _, index in shard}
    assert covered == set(range(11)) and len(shards[0]) == len(shards[1]) == 6


@pytest.mark.parametrize("num_workers", [0, 2])
def test_an_epoch_is_reproduced_by_a_fresh_loader(data_path: Path, num_workers: int):
    """What a resumed run does: build everything anew and jump to epoch 1."""
    straight = FastMriDataModule(data_path, "singlecoil", num_workers=num_workers)
    loader = straight.train_dataloader()
    epochs = []
    for epoch in (0, 1):
        loader.sampler.set_epoch(epoch)
        epochs.append([(b.fname[0], int(b.slice_num), b.image) for b in loader])
    resumed = epoch_batches(data_path, 1, num_workers)
    assert [b[:2] for b in resumed] == [b[:2] for b in epochs[1]]
    for (_, _, image), (_, _, expected) in zip(resumed, epochs[1]):
        torch.testing.assert_close(image, expected, rtol=0, atol=0)
    # Fresh masks each epoch: the same slice is masked differently in epoch 0 and epoch 1.
    first = {b[:2]: b[2] for b in epochs[0]}
    assert any(not torch.equal(first[b[:2]], b[2]) for b in epochs[1])
