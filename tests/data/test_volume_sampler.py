"""VolumeSampler with explicit num_replicas/rank: whole volumes per rank, every slice once."""

from pathlib import Path

import pytest
from fastmri.data.mri_data import FastMRIRawDataSample
from torch.utils.data import DistributedSampler

from mri_recon.data import SliceDataset, VolumeSampler


class IndexedVolumes:
    """A stand-in index like SliceDataset's: ``raw_samples`` of volumes with these slice counts."""

    def __init__(self, slice_counts: list[int]) -> None:
        self.raw_samples = [
            FastMRIRawDataSample(Path(f"vol{v}.h5"), s, {})
            for v, count in enumerate(slice_counts)
            for s in range(count)
        ]

    def __len__(self) -> int:
        return len(self.raw_samples)


def partition(dataset, num_replicas: int) -> list[list[int]]:
    return [
        list(VolumeSampler(dataset, num_replicas=num_replicas, rank=rank))
        for rank in range(num_replicas)
    ]


@pytest.mark.parametrize("num_replicas", [1, 2, 3, 4, 9])
@pytest.mark.parametrize("slice_counts", [[5, 5, 5, 5, 5], [1, 9, 3, 7, 2, 8, 4], [30, 2, 2]])
def test_every_slice_once_and_volumes_whole(slice_counts, num_replicas) -> None:
    dataset = IndexedVolumes(slice_counts)
    parts = partition(dataset, num_replicas)
    assert sorted(i for part in parts for i in part) == list(range(len(dataset)))
    owner = {}
    for rank, part in enumerate(parts):
        sampler = VolumeSampler(dataset, num_replicas=num_replicas, rank=rank)
        assert len(sampler) == max(len(part), 1)  # a process with no volume still runs its loop
        for i in part:
            owner.setdefault(dataset.raw_samples[i].fname, set()).add(rank)
        assert part == sorted(part)
    assert all(len(ranks) == 1 for ranks in owner.values())
    loads = [len(part) for part in parts]
    if num_replicas <= len(slice_counts):
        assert max(loads) - min(loads) <= max(slice_counts)
        assert min(loads) > 0


def test_equal_volumes_are_dealt_evenly() -> None:
    parts = partition(IndexedVolumes([4] * 7), 3)
    assert sorted(len(part) // 4 for part in parts) == [2, 2, 3]


def test_shuffle_reorders_volumes_per_epoch() -> None:
    dataset = IndexedVolumes([3] * 8)
    sampler = VolumeSampler(dataset, num_replicas=2, rank=1, shuffle=True, seed=5)
    orders = []
    for epoch in (0, 0, 1):
        sampler.set_epoch(epoch)
        orders.append(list(sampler))
    assert orders[0] == orders[1] and orders[0] != orders[2]
    assert sorted(orders[0]) == sorted(orders[2]) == list(VolumeSampler(dataset, 2, 1))
    volumes = [dataset.raw_samples[i].fname for i in orders[2]]
    assert all(volumes[k] == volumes[k - k % 3] for k in range(len(volumes)))


def test_on_a_real_slice_dataset(tmp_path: Path, write_fastmri_volume) -> None:
    for seed, num_slices in enumerate((2, 3, 1)):
        write_fastmri_volume(tmp_path / f"vol{seed}.h5", "singlecoil", num_slices=num_slices)
    dataset = SliceDataset(tmp_path, "singlecoil")
    sampler = VolumeSampler(dataset, num_replicas=2, rank=0)
    assert isinstance(sampler, DistributedSampler)
    assert [dataset.raw_samples[i].fname.name for i in sampler] == ["vol1.h5"] * 3
    assert [dataset.raw_samples[i].fname.name for i in VolumeSampler(dataset, 2, 1)] == [
        "vol0.h5",
        "vol0.h5",
        "vol2.h5",
    ]


def test_needs_raw_samples() -> None:
    with pytest.raises(ValueError, match="dataset: VolumeSampler needs a SliceDataset"):
        VolumeSampler(list(range(4)), num_replicas=2, rank=0)


def test_rank_out_of_range() -> None:
    with pytest.raises(ValueError, match="rank"):
        VolumeSampler(IndexedVolumes([2, 2]), num_replicas=2, rank=2)
