"""Training order and training masks that depend only on (seed, epoch): resumable training.

A plain ``shuffle=True`` loader draws its order, and its workers draw their random masks, from
random states that a checkpoint does not hold, so a resumed run would see other data than the
run it continues. Here the sampler yields ``(epoch, index)`` keys, in an order drawn from
(seed, epoch), and ``EpochSeededDataset`` reseeds the mask function from (seed, epoch, index)
just before it loads a slice. Epoch ``e`` of a resumed run then sees exactly what epoch ``e`` of an
uninterrupted run sees, whatever the number of workers. Lightning calls ``set_epoch`` before
each training epoch. Under DDP Lightning's own seeded ``DistributedSampler`` takes over.
"""

from collections.abc import Iterator, Sized
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


def derived_seed(*numbers: int) -> int:
    """A 32-bit seed mixing ``numbers`` (run seed, epoch, ...)."""
    return int(np.random.SeedSequence(list(numbers)).generate_state(1)[0])


class EpochShuffleSampler(Sampler[tuple[int, int]]):
    """Yields ``(epoch, index)`` over ``range(num_samples)`` in an order drawn from (seed, epoch).

    Args:
        num_samples: the dataset's length.
        seed: the run's seed (Lightning's ``seed_everything`` value).
    """

    def __init__(self, num_samples: int, seed: int = 0) -> None:
        self.num_samples = num_samples
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Selects the epoch whose order ``__iter__`` yields."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        generator = torch.Generator().manual_seed(derived_seed(self.seed, self.epoch))
        for index in torch.randperm(self.num_samples, generator=generator).tolist():
            yield self.epoch, index

    def __len__(self) -> int:
        return self.num_samples


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
