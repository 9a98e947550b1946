"""Training order and training masks that depend only on (seed, epoch): resumable training.

A plain ``shuffle=True`` loader draws its order, and its workers draw their random masks, from
random states that a checkpoint does not hold, so a resumed run would see other data than the
run it continues. Here the sampler yields ``(epoch, index)`` keys, in an order drawn from
(seed, epoch), and ``EpochSeededDataset`` reseeds the mask function from (seed, epoch, index)
just before it loads a slice. Epoch ``e`` of a resumed run then sees exactly what epoch ``e`` of an
uninterrupted run sees, whatever the number of workers or processes, and no two slices share a
mask stream. Lightning calls ``set_epoch`` before each training epoch.
"""

from collections.abc import Iterator, Sized
from typing import Any

import numpy as np
from torch.utils.data import Dataset, DistributedSampler


def derived_seed(*numbers: int) -> int:
    """A 32-bit seed mixing ``numbers`` (run seed, epoch, ...)."""
    return int(np.random.SeedSequence(list(numbers)).generate_state(1)[0])


class EpochShuffleSampler(DistributedSampler):
    """``DistributedSampler`` (shuffled, seeded, ``set_epoch``-driven) that yields
    ``(epoch, index)`` keys for ``EpochSeededDataset``.

    The order is torch's ``DistributedSampler`` order for (seed + epoch): each of
    ``num_replicas`` processes gets every ``num_replicas``-th slice of it (the permutation padded
    to a multiple of ``num_replicas``). One process is ``num_replicas=1, rank=0``. Being a
    ``DistributedSampler``, Lightning keeps it under DDP instead of substituting its own.

    Args:
        dataset: the ``EpochSeededDataset`` to sample.
        seed: the run's seed (Lightning's ``seed_everything`` value).
        num_replicas: processes sharing the data.
        rank: this process's index.
    """

    def __init__(self, dataset: Sized, seed: int = 0, num_replicas: int = 1, rank: int = 0) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for index in super().__iter__():
            yield self.epoch, index


class EpochSeededDataset(Dataset):
    """A training dataset indexed by ``(epoch, index)`` whose masks are seeded from both.

    Args:
        dataset: a ``SliceDataset``; when its ``transform`` has a ``mask_func``, that mask
            function's random state is reseeded from (seed, epoch, index) for each slice.
        seed: the run's seed.
    """

    def __init__(self, dataset: Sized, seed: int = 0) -> None:
        self.dataset = dataset
        self.seed = seed

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, index = key
        mask_func = getattr(getattr(self.dataset, "transform", None), "mask_func", None)
        if mask_func is not None:
            mask_func.rng.seed(derived_seed(self.seed, epoch, index))
        return self.dataset[index]

    def __len__(self) -> int:
        return len(self.dataset)
