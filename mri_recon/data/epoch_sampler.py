"""Training order and training masks that depend only on (seed, epoch): resumable training.

A plain ``shuffle=True`` loader draws its order, and its workers draw their random masks, from
random states that a checkpoint does not hold, so a resumed run would see other data than the
run it continues. Here the sampler yields ``(epoch, index)`` keys, in an order drawn from
(seed, epoch), and ``EpochSeededDataset`` reseeds the mask function from (seed, epoch, index)
just before it loads a slice. Epoch ``e`` of a resumed run then sees exactly what epoch ``e`` of an
uninterrupted run sees, whatever the number of workers or processes, and no two slices share a
mask stream. Lightning calls ``set_epoch`` before each training epoch.

A checkpoint written in the middle of an epoch records how far the epoch got
(``ResumableLoader.state_dict``: Lightning stores it with the loops' state), and the resumed run's
sampler starts the epoch there, so it neither repeats nor skips a batch.
"""

from collections.abc import Callable, Iterator, Sized
from typing import Any

import numpy as np
from torch.utils.data import DataLoader, Dataset, DistributedSampler


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
        self.resume: tuple[int, int] | None = None

    def resume_at(self, epoch: int, start: int) -> None:
        """The next iteration, if it is over ``epoch``, starts at this process's ``start``-th key
        (a run resumed in the middle of that epoch); any other epoch starts at its beginning."""
        self.resume = (epoch, start)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        start = self.resume[1] if self.resume is not None and self.resume[0] == self.epoch else 0
        self.resume = None
        for position, index in enumerate(super().__iter__()):
            if position >= start:
                yield self.epoch, index


class ResumableLoader(DataLoader):
    """The training ``DataLoader``, resumable mid-epoch through Lightning's ``state_dict`` /
    ``load_state_dict`` interface for loaders.

    Args:
        args, kwargs: ``DataLoader``'s; the sampler must be an ``EpochShuffleSampler``.
        batches_done: the number of batches of the current epoch the training loop has finished
            (the trainer's batch progress), read when a checkpoint is written.
    """

    def __init__(self, *args: Any, batches_done: Callable[[], int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches_done = batches_done

    def state_dict(self) -> dict[str, int]:
        """Where the epoch stands: its number, the keys this process has trained on, and the
        batch size and process count they assume."""
        return {
            "epoch": self.sampler.epoch,
            "position": self.batches_done() * self.batch_size,
            "batch_size": self.batch_size,
            "num_replicas": self.sampler.num_replicas,
        }

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Starts the recorded epoch where the checkpoint left it.

        Raises:
            ValueError: the batch size or the number of processes differ from the checkpoint's
                (the recorded position would then point elsewhere in the epoch).
        """
        for key, now in (
            ("batch_size", self.batch_size),
            ("num_replicas", self.sampler.num_replicas),
        ):
            if state[key] != now:
                raise ValueError(
                    f"{key}: the checkpoint was written in the middle of an epoch with {key} "
                    f"{state[key]}; resume it with the same (now {now}), or from an end-of-epoch "
                    "checkpoint"
                )
        self.sampler.resume_at(state["epoch"], state["position"])


class EpochSeededDataset(Dataset):
    """A training dataset indexed by ``(epoch, index)`` whose masks are seeded from both.

    A slice the dataset skips (``None``: bad data, with ``skip_bad_files``) is replaced by the
    next usable one in index order, so batches keep their size and DDP processes their step count.

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
        for offset in range(len(self.dataset)):
            if mask_func is not None:
                mask_func.rng.seed(derived_seed(self.seed, epoch, index))
            sample = self.dataset[(index + offset) % len(self.dataset)]
            if sample is not None:
                return sample
        raise ValueError("skip_bad_files: every training slice was skipped as bad")

    def __len__(self) -> int:
        return len(self.dataset)
