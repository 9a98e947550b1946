"""The studies' data: a fixed set of training slices and validation volumes, held in memory.

A study compares training runs, so every run must see the same objective. The slices are read
once with ``SliceDataset`` and ``UnetDataTransform`` (masks seeded per volume, as validation
does, so the training set is a fixed finite sum and full-batch gradient descent is well defined)
and kept as tensors. Images are stored normalised and unclamped together with each slice's mean
and standard deviation, so that a run can use the usual normalised inputs (clamped to +-6, as
the transform does) or the raw magnitudes (input normalization off) from the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from fastmri.data.transforms import center_crop
from torch import Tensor
from tqdm import tqdm

from mri_recon.data import SliceDataset, UnetDataTransform, create_mask
from mri_recon.data.fastmri_format import CHALLENGES, split_dir
from mri_recon.data.unet_transform import CLAMP
from mri_recon.data.volume_sampler import volume_indices

# The demo's masks: random lines, 4x with 8% or 8x with 4% fully sampled centre, per volume.
MASK_TYPE, CENTER_FRACTIONS, ACCELERATIONS = "random", (0.08, 0.04), (4, 8)


@dataclass
class Slices:
    """Slices stacked into tensors: normalised (unclamped) images and targets and their scales.

    Attributes:
        images: (N, H, W) zero-filled images, normalised by their own mean and std.
        targets: (N, H, W) targets normalised like their images.
        means: (N,) mean of each raw zero-filled image.
        stds: (N,) standard deviation of each raw zero-filled image.
        fnames: the volume file name of each slice.
        slice_nums: each slice's index in its volume.
        max_values: (N,) each volume's ``max`` attribute (0 where absent).
    """

    images: Tensor
    targets: Tensor
    means: Tensor
    stds: Tensor
    fnames: list[str]
    slice_nums: list[int]
    max_values: Tensor

    def __len__(self) -> int:
        return self.images.shape[0]

    def to(self, dtype: torch.dtype) -> Slices:
        """A copy in another floating-point type.

        Args:
            dtype: the type of the images, targets and scales.

        Returns:
            The copy.
        """
        return replace(
            self,
            images=self.images.to(dtype),
            targets=self.targets.to(dtype),
            means=self.means.to(dtype),
            stds=self.stds.to(dtype),
        )

    def spread(self, count: int) -> Slices:
        """Some of the slices, spread evenly.

        Args:
            count: how many (all of them if there are fewer).

        Returns:
            The chosen slices, in order.
        """
        index = _evenly_spaced(len(self), count)
        return Slices(
            images=self.images[index],
            targets=self.targets[index],
            means=self.means[index],
            stds=self.stds[index],
            fnames=[self.fnames[i] for i in index],
            slice_nums=[self.slice_nums[i] for i in index],
            max_values=self.max_values[index],
        )

    def pair(self, index: Tensor | slice, normalized: bool) -> tuple[Tensor, Tensor]:
        """Network input and training target of some slices, (n, 1, H, W) each.

        Args:
            index: which slices.
            normalized: the usual normalised images clamped to +-6; otherwise raw magnitudes.

        Returns:
            ``(input, target)``.
        """
        image, target = self.images[index], self.targets[index]
        if normalized:
            return image.clamp(-CLAMP, CLAMP)[:, None], target.clamp(-CLAMP, CLAMP)[:, None]
        mean, std = self.means[index][:, None, None], self.stds[index][:, None, None]
        return (image * std + mean)[:, None], (target * std + mean)[:, None]


@dataclass
class StudyData:
    """What a network study trains and validates on.

    Attributes:
        root: the data folder.
        challenge: ``singlecoil`` or ``multicoil``.
        train: the training slices.
        val: every slice of the validation volumes, in volume order.
    """

    root: Path
    challenge: str
    train: Slices
    val: Slices

    def describe(self) -> str:
        """Where the data comes from and how much of it is used.

        Returns:
            One line of text.
        """
        height, width = self.train.images.shape[-2:]
        volumes = len(set(self.val.fnames))
        return (
            f"{self.challenge} data in {self.root}: {len(self.train)} training slices, "
            f"{len(self.val)} validation slices of {volumes} volumes, {height}x{width}"
        )


def find_challenge(root: Path, challenge: str | None) -> str:
    """The challenge whose train and val folders ``root`` holds.

    Args:
        root: the data folder.
        challenge: the challenge asked for, or None to find it.

    Returns:
        ``singlecoil`` or ``multicoil``.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        ValueError: no challenge has both folders, or both challenges have them and none is given.
    """
    if not root.is_dir():
        raise FileNotFoundError(f"data-path: {root} is not a folder")
    candidates = [challenge] if challenge is not None else list(CHALLENGES)
    found = [
        name
        for name in candidates
        if all(split_dir(root, name, split).is_dir() for split in ("train", "val"))
    ]
    if not found:
        names = " or ".join(f"{name}_train and {name}_val" for name in candidates)
        raise ValueError(f"data-path: {root} holds no {names} folders")
    if len(found) > 1:
        raise ValueError(f"data-path: {root} holds both challenges; choose one with --challenge")
    return found[0]


def _evenly_spaced(count: int, wanted: int) -> list[int]:
    """``wanted`` indices spread evenly over ``range(count)`` (all of them if fewer)."""
    if wanted >= count:
        return list(range(count))
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, wanted)})


def _read(dataset: SliceDataset, indices: list[int], what: str, progress: bool) -> Slices:
    """Transforms and stacks the given slices of ``dataset``."""
    samples = [dataset[i] for i in tqdm(indices, desc=f"reading {what}", disable=not progress)]
    height = min(s.image.shape[-2] for s in samples)
    width = min(s.image.shape[-1] for s in samples)  # mixed sizes: crop to the common centre
    return Slices(
        images=torch.stack([center_crop(s.image, (height, width)) for s in samples]),
        targets=torch.stack([center_crop(s.target, (height, width)) for s in samples]),
        means=torch.stack([torch.as_tensor(s.mean) for s in samples]).float(),
        stds=torch.stack([torch.as_tensor(s.std) for s in samples]).float(),
        fnames=[s.fname for s in samples],
        slice_nums=[int(s.slice_num) for s in samples],
        max_values=torch.tensor([float(s.max_value) for s in samples]),
    )


def load_study_data(
    root: str | Path,
    challenge: str | None = None,
    train_slices: int = 64,
    val_volumes: int = 6,
    progress: bool = True,
) -> StudyData:
    """Reads the training slices and validation volumes of a fastMRI data folder.

    Args:
        root: folder holding ``{challenge}_train`` and ``{challenge}_val``.
        challenge: ``singlecoil`` or ``multicoil``; ``None`` finds the one ``root`` holds.
        train_slices: training slices to use, spread evenly over the training split.
        val_volumes: validation volumes to use (all their slices), spread evenly.
        progress: show a progress bar while reading.

    Returns:
        The slices, with the demo's masks (random, 4x and 8x) fixed per volume.
    """
    root = Path(root)
    challenge = find_challenge(root, challenge)
    mask = create_mask(MASK_TYPE, CENTER_FRACTIONS, ACCELERATIONS)
    transform = UnetDataTransform(challenge, mask_func=mask, use_seed=True, clamp=None)
    train = SliceDataset(split_dir(root, challenge, "train"), challenge, transform=transform)
    val = SliceDataset(split_dir(root, challenge, "val"), challenge, transform=transform)
    volumes = list(volume_indices(val).values())
    val_indices = [i for v in _evenly_spaced(len(volumes), val_volumes) for i in volumes[v]]
    return StudyData(
        root=root,
        challenge=challenge,
        train=_read(train, _evenly_spaced(len(train), train_slices), "training slices", progress),
        val=_read(val, val_indices, "validation slices", progress),
    )
