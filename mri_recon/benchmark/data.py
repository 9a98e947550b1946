"""The data pipeline: fastMRI-sized multicoil k-space to U-Net inputs, ours against fastMRI's.

Ours is the training loader of ``FastMriDataModule`` (our ``SliceDataset`` and
``UnetDataTransform``: random mask, centred inverse FFT, crop, magnitude, RSS, normalisation);
the reference is ``fastmri.data.SliceDataset`` with ``fastmri.data.transforms.UnetDataTransform``
and the same mask function, in a plain ``DataLoader``. One call is one pass over every slice.

Without a data folder of the user's the files are written here, with the size of fastMRI's knee
multicoil data (15 coils, 640 x 368 k-space, 320 x 320 targets) and random content: the pipeline's
cost does not depend on what the images show. They are written in fastMRI's layout
(``mri_recon.data.fastmri_format``), as the simulator writes its files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from mri_recon.data.fastmri_format import RSS_KEY, split_dir

# fastMRI knee multicoil: 15 coils, 640 x 368 k-space (2x readout oversampling), 320 x 320 targets.
COILS, KSPACE_SHAPE, TARGET_SIZE = 15, (640, 368), 320
MASK = {"mask_type": "random", "center_fractions": (0.08,), "accelerations": (4,)}


def write_fastmri_sized(root: Path, files: int, slices: int, shrink: int = 1) -> Path:
    """Writes ``files`` multicoil volumes of ``slices`` slices into ``root/multicoil_train``
    (and links ``multicoil_val`` to it: the data module's training stage reads both).

    Args:
        root: the data folder (created).
        files: number of volumes.
        slices: slices per volume.
        shrink: divide the k-space and target sizes by this (tests use small files).

    Returns:
        ``root``.
    """
    from mri_recon.data.fastmri_file import Encoding, write_volume

    rows, cols = (n // shrink for n in KSPACE_SHAPE)
    size = TARGET_SIZE // shrink
    encoding = Encoding((rows, cols), (size, size), 0, cols - 1, COILS)
    folder = split_dir(root, "multicoil", "train")
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(files):
        shape = (slices, COILS, rows, cols)
        kspace = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
        target = rng.random((slices, size, size), dtype=np.float32)
        attrs = {"acquisition": "CORPD_FBK", "max": 1.0, "norm": 1.0, "patient_id": str(index)}
        write_volume(folder / f"file{index:03d}.h5", kspace, encoding, attrs, {RSS_KEY: target})
    split_dir(root, "multicoil", "val").symlink_to(folder.name)
    return root


def slices_in(root: Path) -> int:
    """Slices of the training split of ``root``."""
    import h5py

    total = 0
    for file in sorted(split_dir(root, "multicoil", "train").glob("*.h5")):
        with h5py.File(file, "r") as hf:
            total += hf["kspace"].shape[0]
    return total


def _pass(loader: DataLoader) -> Callable[[], int]:
    def run() -> int:
        return sum(1 for _ in loader)

    return run


def our_pass(root: Path, workers: int) -> Callable[[], int]:
    """One pass of ``FastMriDataModule``'s training loader over ``root``."""
    from mri_recon.data.datamodule import FastMriDataModule

    module = FastMriDataModule(
        root, "multicoil", batch_size=1, num_workers=workers, use_dataset_cache=False, **MASK
    )
    return _pass(module.train_dataloader())


def reference_pass(root: Path, workers: int) -> Callable[[], int]:
    """One pass of fastMRI's ``SliceDataset`` and ``UnetDataTransform`` over ``root``."""
    from fastmri.data import SliceDataset
    from fastmri.data.subsample import create_mask_for_mask_type
    from fastmri.data.transforms import UnetDataTransform

    mask = create_mask_for_mask_type(
        MASK["mask_type"], list(MASK["center_fractions"]), list(MASK["accelerations"])
    )
    dataset = SliceDataset(
        split_dir(root, "multicoil", "train"),
        "multicoil",
        transform=UnetDataTransform("multicoil", mask_func=mask, use_seed=False),
        use_dataset_cache=False,
    )
    return _pass(DataLoader(dataset, batch_size=1, shuffle=True, num_workers=workers))
