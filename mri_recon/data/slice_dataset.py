"""``SliceDataset``: fastMRI volumes as a dataset of 2-D slices, validated when indexed.

A drop-in replacement for ``fastmri.data.SliceDataset``: the same constructor arguments, the same
``raw_samples`` and the same per-slice tuple ``(kspace, mask, target, attrs, fname, slice_num)``.
It differs where fastmri fails users: every file is checked when the index is built and a bad one
raises ``BadFileError`` naming it (or is skipped with a warning), every slice is checked for NaN and
infinite values when it is read (``NonFiniteError`` names file and slice), and the metadata cache
lives in the user's cache folder, keyed on each file's size and modification time so it is never
stale.
"""

import logging
import os
import random
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from fastmri.data.mri_data import FastMRIRawDataSample

from mri_recon.data.fastmri_format import KSPACE_KEY, MASK_KEY, check_challenge, target_key
from mri_recon.data.file_check import (
    BadFileError,
    FileLayout,
    open_volume,
    output_size,
    read_volume_info,
)
from mri_recon.data.finite import check_finite
from mri_recon.data.folder import list_volume_files
from mri_recon.data.index_cache import IndexCache, VolumeInfo, default_cache_file
from mri_recon.data.skipped import SkippedSlices

logger = logging.getLogger(__name__)


def check_sample_rates(
    sample_rate: float | None, volume_sample_rate: float | None, prefix: str = ""
) -> tuple[float, float]:
    """Checks a (slice, volume) sample-rate pair and returns it with ``None`` read as 1.0.

    Args:
        sample_rate: fraction of slices to keep, or ``None``.
        volume_sample_rate: fraction of volumes to keep, or ``None``.
        prefix: prefix of the argument names in error messages (``val_``, ``test_``).

    Raises:
        ValueError: a rate outside (0, 1], or both rates set.
    """
    rates = []
    for name, rate in (("sample_rate", sample_rate), ("volume_sample_rate", volume_sample_rate)):
        if rate is not None and not 0 < rate <= 1:
            raise ValueError(f"{prefix}{name} must lie in (0, 1], got {rate}")
        rates.append(1.0 if rate is None else float(rate))
    if sample_rate is not None and volume_sample_rate is not None:
        raise ValueError(
            f"{prefix}sample_rate and {prefix}volume_sample_rate: set one, not both "
            "(sample by slices or by volumes)"
        )
    return rates[0], rates[1]


class SliceDataset(torch.utils.data.Dataset):
    """MR image slices of all fastMRI volumes in one folder.

    Args:
        root: folder of ``.h5`` volumes (one split of one challenge).
        challenge: ``singlecoil`` (target ``reconstruction_esc``) or ``multicoil``
            (target ``reconstruction_rss``).
        transform: called as ``transform(kspace, mask, target, attrs, fname, slice_num)``;
            without one a slice is returned as that tuple.
        use_dataset_cache: read and update the per-file metadata cache.
        sample_rate: fraction of slices to keep, drawn with Python's ``random`` as fastmri does.
        volume_sample_rate: fraction of volumes to keep; exclusive with ``sample_rate``.
        dataset_cache_file: the cache file; by default one per folder under ``default_cache_dir()``.
        num_cols: keep only volumes whose encoded width is one of these.
        raw_sample_filter: keep only raw samples for which this returns true.
        skip_bad_files: warn about and leave out bad files instead of raising ``BadFileError``;
            a slice found bad when read (NaN or inf, unreadable) is then returned as ``None``.

    Attributes:
        raw_samples: one ``FastMRIRawDataSample(fname, slice_ind, metadata)`` per slice.
        layouts: the array shapes of each indexed file (``FileLayout``).
        skipped_files: ``"<file>: <problem>"`` for each bad file left out.
        skipped_slices: the distinct slices skipped when read, in every DataLoader worker.

    Examples:
        A folder with one single-coil volume of two slices, written in fastMRI's layout:

        >>> import tempfile
        >>> import numpy as np
        >>> from mri_recon.data import SliceDataset
        >>> from mri_recon.data.fastmri_file import Encoding, write_volume
        >>> kspace = np.ones((2, 32, 16), np.complex64)
        >>> target = {"reconstruction_esc": np.ones((2, 16, 16), np.float32)}
        >>> encoding = Encoding(encoded=(32, 16), recon=(16, 16), pe_first=0, pe_last=15)
        >>> with tempfile.TemporaryDirectory() as root:
        ...     _ = write_volume(f"{root}/file0.h5", kspace, encoding, {"max": 1.0}, target)
        ...     dataset = SliceDataset(root, challenge="singlecoil")
        ...     kspace, mask, target, attrs, fname, slice_num = dataset[1]
        >>> len(dataset), kspace.shape, target.shape, fname, slice_num
        (2, (32, 16), (16, 16), 'file0.h5', 1)
    """

    def __init__(
        self,
        root: str | Path | os.PathLike,
        challenge: str,
        transform: Callable | None = None,
        use_dataset_cache: bool = False,
        sample_rate: float | None = None,
        volume_sample_rate: float | None = None,
        dataset_cache_file: str | Path | os.PathLike | None = None,
        num_cols: Sequence[int] | None = None,
        raw_sample_filter: Callable[[FastMRIRawDataSample], bool] | None = None,
        skip_bad_files: bool = False,
    ) -> None:
        check_challenge(challenge)
        sample_rate, volume_sample_rate = check_sample_rates(sample_rate, volume_sample_rate)
        self.challenge = challenge
        self.recons_key = target_key(challenge)
        self.transform = transform
        self.skip_bad_files = skip_bad_files
        self.layouts: dict[Path, FileLayout] = {}
        self.skipped_files: list[str] = []
        cache = None
        if use_dataset_cache:
            cache = IndexCache(dataset_cache_file or default_cache_file(root))
        keep = raw_sample_filter or (lambda raw_sample: True)
        self.raw_samples: list[FastMRIRawDataSample] = []
        for fname, (metadata, num_slices, layout) in self._index(list_volume_files(root), cache):
            self.layouts[fname] = layout
            for slice_ind in range(num_slices):
                raw_sample = FastMRIRawDataSample(fname, slice_ind, metadata)
                if keep(raw_sample):
                    self.raw_samples.append(raw_sample)
        if sample_rate < 1.0:
            random.shuffle(self.raw_samples)
            self.raw_samples = self.raw_samples[: round(len(self.raw_samples) * sample_rate)]
        elif volume_sample_rate < 1.0:
            volumes = sorted({raw_sample.fname.stem for raw_sample in self.raw_samples})
            random.shuffle(volumes)
            kept = set(volumes[: round(len(volumes) * volume_sample_rate)])
            self.raw_samples = [s for s in self.raw_samples if s.fname.stem in kept]
        if num_cols:
            self.raw_samples = [
                s for s in self.raw_samples if s.metadata["encoding_size"][1] in num_cols
            ]
        self.skipped_slices = SkippedSlices((s.fname, s.slice_ind) for s in self.raw_samples)

    def _index(self, files: list[Path], cache: IndexCache | None) -> list[tuple[Path, VolumeInfo]]:
        """Validated ``(file, (metadata, num_slices, layout))`` of each usable file, via the
        cache."""
        index, num_read = [], 0
        for fname in files:
            info = cache.get(fname, self.challenge) if cache is not None else None
            if info is None:
                try:
                    info = read_volume_info(fname, self.challenge)
                except BadFileError as err:
                    if not self.skip_bad_files:
                        raise
                    warnings.warn(f"skipping bad file {err}", stacklevel=3)
                    self.skipped_files.append(str(err))
                    continue
                num_read += 1
                if cache is not None:
                    cache.put(fname, self.challenge, info)
            index.append((fname, info))
        if not index:
            raise ValueError(f"root: no usable files among the {len(files)} in {files[0].parent}")
        if cache is not None:
            cache.prune(files[0].parent, set(files))
            cache.save()
        num_cached = len(index) - num_read
        logger.info("Indexed %d files (%d read, %d cached)", len(index), num_read, num_cached)
        return index

    def sample_sizes(self) -> dict[Path, tuple[int, int]]:
        """The (height, width) of the U-Net samples of each indexed file (``output_size``)."""
        recon_sizes = {sample.fname: sample.metadata["recon_size"] for sample in self.raw_samples}
        return {
            file: output_size(layout.kspace_shape[-1], layout.target_shape, recon_sizes[file])
            for file, layout in self.layouts.items()
            if file in recon_sizes
        }

    def leave_out(self, problems: dict[Path, str]) -> None:
        """Leaves out files found unusable after indexing (e.g. images too small for the
        network that will read them), as bad files are: ``BadFileError`` for the first, or with
        ``skip_bad_files`` a warning each and an entry in ``skipped_files``.

        Args:
            problems: each unusable file and its problem.
        """
        for file, problem in problems.items():
            error = BadFileError(file, problem)
            if not self.skip_bad_files:
                raise error
            warnings.warn(f"skipping bad file {error}", stacklevel=2)
            self.skipped_files.append(str(error))
            self.layouts.pop(file, None)
        self.raw_samples = [s for s in self.raw_samples if s.fname not in problems]
        if not self.raw_samples:
            raise ValueError(f"root: no usable files left after skipping {len(problems)}")

    def unmasked_widths(self) -> dict[int, Path]:
        """The k-space widths (phase-encode columns) of the indexed files that a mask function
        will undersample (those without a stored mask), each with the first file that has it."""
        widths: dict[int, Path] = {}
        for fname, layout in self.layouts.items():
            if not layout.has_mask:
                widths.setdefault(layout.kspace_shape[-1], fname)
        return widths

    def __len__(self) -> int:
        return len(self.raw_samples)

    def __getitem__(self, i: int) -> Any:
        """Slice ``i`` (transformed); ``None`` for a bad slice when skipping bad files."""
        try:
            return self.load(i)
        except BadFileError as err:
            if not self.skip_bad_files:
                raise
            warnings.warn(f"skipping bad slice {err}", stacklevel=2)
            sample = self.raw_samples[i]
            self.skipped_slices.add(sample.fname, sample.slice_ind)
            return None

    def load(self, i: int) -> Any:
        """Slice ``i`` read, checked finite and transformed.

        Raises:
            BadFileError: the slice cannot be read; ``NonFiniteError`` (a ``BadFileError``) when
                its k-space, mask or target holds NaN or infinite values.
        """
        fname, dataslice, metadata = self.raw_samples[i]
        try:
            with open_volume(fname) as hf:
                kspace = hf[KSPACE_KEY][dataslice]
                mask = np.asarray(hf[MASK_KEY]) if MASK_KEY in hf else None
                target = hf[self.recons_key][dataslice] if self.recons_key in hf else None
                attrs = dict(hf.attrs)
        except (BadFileError, IndexError) as err:
            problem = err.problem if isinstance(err, BadFileError) else err
            raise BadFileError(fname, f"cannot read slice {dataslice} ({problem})") from err
        arrays = {KSPACE_KEY: kspace, MASK_KEY: mask, self.recons_key: target}
        check_finite(fname, dataslice, **arrays)
        attrs.update(metadata)
        if self.transform is None:
            return kspace, mask, target, attrs, fname.name, dataslice
        return self.transform(kspace, mask, target, attrs, fname.name, dataslice)
