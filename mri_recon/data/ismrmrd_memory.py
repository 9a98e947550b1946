"""ISMRMRD raw files read as fastMRI files: converted in memory, kept for the next read.

``open_volume`` (``mri_recon.data.file_check``), the one place a data file is opened, hands a raw
file here; what comes back is an HDF5 file in memory (h5py's ``core`` driver, never written to
disk) holding the fastMRI layout ``mri_recon.data.ismrmrd`` builds with the default
``ConversionOptions`` (no prewhitening; the first repetition, contrast, set and phase). Every
reader then works unchanged: the file checks, ``SliceDataset``, ``check-data``, the run
preparation.

Reading a volume slice after slice must not convert it again for every slice, so the last
``CACHED_FILES`` conversions are kept, keyed on the file's resolved path, size and modification
time (a rewritten file is converted anew). The cache belongs to one process: a DataLoader worker
converts for itself.
"""

import itertools
import os
from collections import OrderedDict
from pathlib import Path

import h5py

from mri_recon.data.ismrmrd import convert, store_volume
from mri_recon.data.ismrmrd_plan import ConversionOptions
from mri_recon.data.marks import SOURCE_KEY

CACHED_FILES = 2

_cache: "OrderedDict[tuple[str, int, int], h5py.File]" = OrderedDict()
_cache_pid = os.getpid()
_names = itertools.count()


def _key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def _own_cache() -> "OrderedDict[tuple[str, int, int], h5py.File]":
    """This process's cache (a forked worker starts with an empty one)."""
    global _cache_pid
    if _cache_pid != os.getpid():
        _cache.clear()
        _cache_pid = os.getpid()
    return _cache


def cached_conversion(path: Path) -> h5py.File | None:
    """The in-memory conversion of ``path`` when it is cached and the file unchanged since."""
    try:
        key = _key(path)
    except OSError:
        return None
    cache = _own_cache()
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    return None


def convert_in_memory(path: Path, raw: h5py.File) -> h5py.File:
    """Converts the open ISMRMRD file ``raw`` (at ``path``) into an in-memory fastMRI file,
    cached for later reads.

    Raises:
        IsmrmrdError: the reason the file cannot be converted.
    """
    (volume,) = convert(raw, ConversionOptions())  # the defaults choose one of each counter
    converted = h5py.File(
        f"mri-recon-ismrmrd-{os.getpid()}-{next(_names)}", "w", driver="core", backing_store=False
    )
    store_volume(converted, volume)
    converted.attrs[SOURCE_KEY] = str(path.resolve())
    cache = _own_cache()
    cache[_key(path)] = converted
    while len(cache) > CACHED_FILES:  # dropped, not closed: a reader may still hold it
        cache.popitem(last=False)
    return converted
