"""``FastMriDataModule``: train/val/test loaders over a fastMRI data folder, for Lightning 2.x.

Training draws a fresh random mask per slice, in an order and with masks that depend only on the
seed and the epoch, and its loader records its position in checkpoints (so a run resumed from any
checkpoint, even mid-epoch, sees the same data); validation and test masks are fixed per volume
(seeded from the file name), and test files that carry their own mask are used as stored.
Under DDP the val/test loaders use ``VolumeSampler`` so each volume's slices stay on one process.
Workers persist across epochs; on a GPU batches go through pinned memory and, with
``transform_on_device``, the FFTs run on the batch there (``mri_recon.data.unet_device_transform``).
"""

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytorch_lightning as pl
import torch
from fastmri.data.subsample import MaskFunc
from torch.utils.data import DataLoader, default_collate

from mri_recon.data.epoch_sampler import EpochSeededDataset, EpochShuffleSampler, ResumableLoader
from mri_recon.data.fastmri_format import check_challenge, split_dir
from mri_recon.data.masks import check_mask_arguments, check_mask_widths, create_mask
from mri_recon.data.slice_dataset import SliceDataset, check_sample_rates
from mri_recon.data.unet_device_transform import (
    KspaceBatchTransform,
    KspaceSample,
    KspaceSliceTransform,
)
from mri_recon.data.unet_transform import UnetDataTransform, UnetSample
from mri_recon.data.varnet_transform import VarNetSample
from mri_recon.data.volume_sampler import VolumeSampler

TEST_SPLITS = ("val", "test")
# The loaders each Lightning stage needs, and the stage that builds each loader's dataset.
STAGE_LOADERS = {
    "fit": ("train", "val"),
    "validate": ("val",),
    "test": ("test",),
    "predict": ("test",),
}
LOADER_STAGE = {"train": "fit", "val": "validate", "test": "test"}


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def sample_size(sample: UnetSample | KspaceSample | VarNetSample) -> tuple[int, ...]:
    """What must agree within a batch: the image's (or k-space's) shape, and a VarNet sample's
    crop size."""
    if isinstance(sample, VarNetSample):
        return (*sample.masked_kspace.shape, *sample.crop_size)
    return tuple(sample[0].shape)


def collate_samples(
    samples: list[UnetSample | VarNetSample | None],
) -> UnetSample | VarNetSample | None:
    """Batches samples, with a clear error where images of different sizes meet in one batch
    (fastMRI brain data mixes widths; such data needs ``batch_size`` 1, as fastMRI trains).
    Slices skipped for bad data (``None``) are left out; a batch of none is ``None``, which the
    module skips."""
    samples = [sample for sample in samples if sample is not None]
    if not samples:
        return None
    sizes = {sample_size(sample) for sample in samples}
    if len(sizes) > 1:
        names = ", ".join(sorted({sample.fname for sample in samples}))
        raise ValueError(
            f"batch_size: a batch mixes image sizes {sorted(sizes)} (files {names}); "
            "use --data.batch_size 1 for data of mixed sizes"
        )
    return default_collate(samples)


def check_one_size(dataset: SliceDataset, split: str, image_only: bool) -> None:
    """Refuses, before any batch, a split whose files would give samples of several sizes: a
    batch of more than one slice needs one size (fastMRI's brain data mixes widths).

    Args:
        dataset: the split's dataset.
        split: its name, for the message.
        image_only: only the image size must agree (U-Net samples); otherwise the whole k-space
            shape too (VarNet samples, k-space batches transformed on the device).

    Raises:
        ValueError: naming ``batch_size``, the sizes and how many files have each.
    """
    sizes: Counter = Counter()
    for file, image in dataset.sample_sizes().items():
        sizes[image if image_only else (*dataset.layouts[file].kspace_shape[1:], *image)] += 1
    if len(sizes) > 1:
        listed = ", ".join(
            f"{'x'.join(map(str, size))} ({count} file{'s' * (count > 1)})"
            for size, count in sorted(sizes.items())
        )
        raise ValueError(
            f"batch_size: the {split} split mixes sample sizes {listed}; use --data.batch_size 1 "
            "for data of mixed sizes"
        )


class FastMriDataModule(pl.LightningDataModule):
    """Loaders of U-Net or VarNet samples from ``data_path/{challenge}_{train,val,test}``.

    The samples are those the trained network takes: the LightningModule's ``sample_transform``
    makes them (``ReconModule``: VarNet samples for a VarNet), U-Net samples without one.

    Args:
        data_path: folder holding the split folders ``{challenge}_train``, ``{challenge}_val``,
            ``{challenge}_test``.
        challenge: ``singlecoil`` or ``multicoil``.
        mask_type: ``random``, ``equispaced``, ``equispaced_fraction``, ``magic`` or
            ``magic_fraction``.
        center_fractions: fraction of central lines always sampled, one per acceleration.
        accelerations: undersampling factors, one per centre fraction.
        batch_size: slices per batch.
        num_workers: DataLoader worker processes.
        sample_rate: fraction of training slices to use.
        val_sample_rate: fraction of validation slices to use.
        test_sample_rate: fraction of test slices to use.
        volume_sample_rate: fraction of training volumes to use (exclusive with ``sample_rate``).
        val_volume_sample_rate: fraction of validation volumes to use.
        test_volume_sample_rate: fraction of test volumes to use.
        use_dataset_cache: cache per-file metadata in the user's cache folder.
        test_split: the split the test loader reads: ``test`` or ``val``.
        transform_on_device: load k-space and run the FFTs, crop, coil combination and
            normalisation on the batch on the training device (``KspaceBatchTransform``) instead
            of in the loader's workers; the same samples (tested), for GPUs the workers cannot
            keep busy. VarNet samples have no FFTs to move: they are unchanged by it.
        skip_bad_files: leave out unreadable or malformed files, and slices with NaN or
            infinite values, with a warning naming each (counted in the run's summary), instead
            of stopping with an error. A skipped training slice is replaced by the next good one,
            so every batch (and every DDP process) keeps its size.
    """

    def __init__(
        self,
        data_path: str | Path,
        challenge: str,
        mask_type: str = "random",
        center_fractions: tuple[float, ...] = (0.08,),
        accelerations: tuple[int, ...] = (4,),
        batch_size: int = 1,
        num_workers: int = 4,
        sample_rate: float | None = None,
        val_sample_rate: float | None = None,
        test_sample_rate: float | None = None,
        volume_sample_rate: float | None = None,
        val_volume_sample_rate: float | None = None,
        test_volume_sample_rate: float | None = None,
        use_dataset_cache: bool = True,
        test_split: str = "test",
        transform_on_device: bool = False,
        skip_bad_files: bool = False,
    ) -> None:
        super().__init__()
        data_path = str(data_path)  # recorded as text: checkpoints stay loadable with weights_only
        if not Path(data_path).is_dir():
            raise FileNotFoundError(f"data_path: {data_path} is not a folder")
        check_challenge(challenge)
        check_mask_arguments(mask_type, center_fractions, accelerations)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        if test_split not in TEST_SPLITS:
            raise ValueError(f"test_split must be one of {TEST_SPLITS}, got {test_split!r}")
        self.rates = {
            "train": (sample_rate, volume_sample_rate),
            "val": (val_sample_rate, val_volume_sample_rate),
            "test": (test_sample_rate, test_volume_sample_rate),
        }
        for split, (slice_rate, volume_rate) in self.rates.items():
            check_sample_rates(slice_rate, volume_rate, "" if split == "train" else f"{split}_")
        self.save_hyperparameters()
        self.data_path = Path(data_path)
        self.datasets: dict[str, SliceDataset] = {}

    def split_folder(self, split: str) -> Path:
        """The folder of ``split`` ('train', 'val' or 'test'), checked to exist."""
        folder = split_dir(self.data_path, self.hparams.challenge, split)
        if not folder.is_dir():
            raise FileNotFoundError(f"data_path: split folder {folder} does not exist")
        return folder

    def _dataset(self, split: str, loader: str, train: bool) -> SliceDataset:
        """The dataset of ``split`` for ``loader``: random masks for training, else seeded."""
        hp = self.hparams
        mask_func = create_mask(hp.mask_type, hp.center_fractions, hp.accelerations)
        slice_rate, volume_rate = self.rates[loader]
        dataset = SliceDataset(
            self.split_folder(split),
            hp.challenge,
            transform=self._transform(mask_func, use_seed=not train),
            use_dataset_cache=hp.use_dataset_cache,
            sample_rate=slice_rate,
            volume_sample_rate=volume_rate,
            skip_bad_files=hp.skip_bad_files,
        )
        widths = dataset.unmasked_widths()
        check_mask_widths(hp.mask_type, hp.center_fractions, hp.accelerations, widths)
        module = self.trainer.lightning_module if self.trainer is not None else None
        unusable = getattr(module, "unusable_files", None)  # ReconModule knows its network's
        if unusable is not None:
            dataset.leave_out(unusable(dataset))
        if hp.batch_size > 1:
            check_one_size(
                dataset, split, image_only=isinstance(dataset.transform, UnetDataTransform)
            )
        return dataset

    def _transform(self, mask_func: MaskFunc, use_seed: bool) -> Callable:
        """The sample transform of the network being trained (see the class docstring); with
        ``transform_on_device`` a U-Net's FFTs wait for the batch on the device."""
        hp = self.hparams
        module = self.trainer.lightning_module if self.trainer is not None else None
        make = getattr(module, "sample_transform", None)
        if make is not None:
            return make(hp.challenge, mask_func, use_seed, on_device=hp.transform_on_device)
        transform_class = KspaceSliceTransform if hp.transform_on_device else UnetDataTransform
        return transform_class(hp.challenge, mask_func=mask_func, use_seed=use_seed)

    def setup(self, stage: str | None = None) -> None:
        """Builds (and validates) the datasets the stage needs; ``None`` builds all of them."""
        loaders = STAGE_LOADERS[stage] if stage is not None else tuple(LOADER_STAGE)
        for loader in loaders:
            if loader in self.datasets:
                continue
            split = self.hparams.test_split if loader == "test" else loader
            self.datasets[loader] = self._dataset(split, loader, train=loader == "train")

    def _loader(self, loader: str) -> DataLoader:
        if loader not in self.datasets:
            self.setup(LOADER_STAGE[loader])
        dataset = self.datasets[loader]
        train = loader == "train"
        options = {
            "batch_size": self.hparams.batch_size,
            "num_workers": self.hparams.num_workers,
            "collate_fn": collate_samples,
            "pin_memory": self.trainer is not None
            and self.trainer.strategy.root_device.type == "cuda",
            "persistent_workers": self.hparams.num_workers > 0,
        }
        if not train:
            sampler = VolumeSampler(dataset) if _distributed() else None
            return DataLoader(dataset, sampler=sampler, **options)
        seed = int(os.environ.get("PL_GLOBAL_SEED", 0))
        replicas, rank = 1, 0
        if _distributed():
            replicas, rank = torch.distributed.get_world_size(), torch.distributed.get_rank()
        dataset = EpochSeededDataset(dataset, seed)
        sampler = EpochShuffleSampler(dataset, seed, replicas, rank)
        # Lightning builds the first iterator (and workers prefetch from it) before its first
        # set_epoch call, so start where a resumed run starts: at the epoch Lightning will pass
        # to set_epoch, the count of epochs processed.
        if self.trainer is not None:
            sampler.set_epoch(self.trainer.fit_loop.epoch_progress.current.processed)
        return ResumableLoader(dataset, sampler=sampler, batches_done=self._batches_done, **options)

    def _batches_done(self) -> int:
        """The training batches of the current epoch the trainer has finished."""
        if self.trainer is None:
            return 0
        return self.trainer.fit_loop.epoch_loop.batch_progress.current.processed

    def on_after_batch_transfer(self, batch: object, dataloader_idx: int) -> object:
        """With ``transform_on_device``, turns a k-space batch into U-Net samples where it is."""
        if isinstance(batch, KspaceSample):
            return KspaceBatchTransform(self.hparams.challenge)(batch)
        return batch

    def train_dataloader(self) -> DataLoader:
        """Shuffled training slices with a fresh random mask each time."""
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        """Validation slices in order, masks fixed per volume."""
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        """Slices of ``test_split`` in order; stored masks used where files have them."""
        return self._loader("test")
