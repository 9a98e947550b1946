"""A distributed sampler that keeps every volume's slices on one process, for validation and test.

Per-volume metrics (SSIM over a volume, NMSE per volume) need all slices of a volume in one place.
``torch.utils.data.DistributedSampler`` splits slices across processes and pads with duplicates so
that every process gets as many; here whole volumes go to processes, balanced by slice count, and
each slice is seen exactly once overall, so processes may get slightly different lengths.

With fewer volumes than processes, some processes get none. Lightning would refuse such a loader
("within local rank has zero length"), or, allowed, skip the whole validation loop there, so that
its end-of-epoch collectives never meet the other processes'. Such a process reports a length of
one and yields nothing: its loop runs, contributes no slice, and exchanges scores with the others.
"""

from collections.abc import Iterator

import torch
from torch.utils.data import Dataset, DistributedSampler


def volume_indices(dataset: Dataset) -> dict[str, list[int]]:
    """The dataset indices of each volume, by file name, in dataset order.

    Raises:
        ValueError: the dataset has no ``raw_samples`` (``SliceDataset``, fastmri's or ours).
    """
    raw_samples = getattr(dataset, "raw_samples", None)
    if raw_samples is None:
        raise ValueError(
            f"dataset: VolumeSampler needs a SliceDataset with raw_samples, "
            f"got {type(dataset).__name__}"
        )
    volumes: dict[str, list[int]] = {}
    for index, raw_sample in enumerate(raw_samples):
        volumes.setdefault(str(raw_sample[0]), []).append(index)
    return volumes


class VolumeSampler(DistributedSampler):
    """Assigns whole volumes to processes; each process iterates over its volumes' slices.

    Volumes are dealt largest first, each to the process with the fewest slices so far (ties to the
    lower rank), so slice counts stay balanced. The assignment depends only on the dataset, never
    on the epoch; ``shuffle`` reorders a process's volumes per epoch (see ``set_epoch``).

    Args:
        dataset: a ``SliceDataset``.
        num_replicas: number of processes; by default the ``torch.distributed`` world size.
        rank: this process's rank; by default the ``torch.distributed`` rank.
        shuffle: shuffle the order of this process's volumes each epoch.
        seed: base seed of the shuffle, added to the epoch.
    """

    def __init__(
        self,
        dataset: Dataset,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed)
        volumes = sorted(volume_indices(dataset).values(), key=len, reverse=True)
        loads = [0] * self.num_replicas
        assigned: list[list[list[int]]] = [[] for _ in range(self.num_replicas)]
        for slices in volumes:
            target = loads.index(min(loads))
            assigned[target].append(slices)
            loads[target] += len(slices)
        self.volumes = sorted(assigned[self.rank])
        self.num_samples = loads[self.rank]
        self.total_size = sum(loads)

    def __iter__(self) -> Iterator[int]:
        order = list(range(len(self.volumes)))
        if self.shuffle:
            generator = torch.Generator()
            generator.manual_seed(self.seed + self.epoch)
            order = torch.randperm(len(self.volumes), generator=generator).tolist()
        for volume in order:
            yield from self.volumes[volume]

    def __len__(self) -> int:
        return max(self.num_samples, 1)  # see the module's docstring: an empty process runs too
