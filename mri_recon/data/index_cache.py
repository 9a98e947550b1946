"""A persistent cache of per-file dataset metadata that can never go stale.

Each entry is keyed on a file's resolved path and the challenge it was validated for, and records
the file's size and modification time: an entry is used only while both still match, so a rewritten
or touched file is read again. The cache lives in the user's cache folder, never in the current
directory, and is replaced atomically, so concurrent readers (DataLoader workers, DDP ranks) never
see a partial file. Its first line is mri-recon's mark: a file there without it is left alone
(and not used), never replaced.
"""

import hashlib
import logging
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

from mri_recon.data.file_check import FileLayout
from mri_recon.data.io import atomic_path
from mri_recon.data.marks import mark_kind, writer_mark

logger = logging.getLogger(__name__)

CACHE_FORMAT = "mri-recon-slice-index-3"
INDEX_CACHE = "index-cache"  # the kind of output (mark) of the cache files

VolumeInfo = tuple[dict[str, Any], int, FileLayout]  # metadata, slices, shapes


def default_cache_dir() -> Path:
    """``$MRI_RECON_CACHE_DIR``, else ``$XDG_CACHE_HOME/mri-recon``, else ``~/.cache/mri-recon``.

    A relative ``XDG_CACHE_HOME`` is ignored, as the XDG specification asks.
    """
    own = os.environ.get("MRI_RECON_CACHE_DIR")
    if own:
        return Path(own).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "mri-recon"
    return Path.home() / ".cache" / "mri-recon"


def default_cache_file(root: str | Path) -> Path:
    """The cache file for one data folder: one file per resolved folder path."""
    digest = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:16]
    return default_cache_dir() / f"slice_index_{Path(root).name}_{digest}.cache"


def _signature(path: Path) -> tuple[int, int]:
    """``(size, mtime_ns)`` of a file: what must match for a cached entry to be valid."""
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


class IndexCache:
    """Per-file metadata entries stored in one pickle file.

    Args:
        path: the cache file; read when it exists, written by ``save`` when entries changed.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.foreign = False  # a file of another program's is where the cache would go
        self.entries: dict[tuple[str, str], tuple[tuple[int, int], VolumeInfo]] = self._load()
        self.changed = False

    def _load(self) -> dict:
        """The stored entries, or none when the file is missing or not an index of this format."""
        if not self.path.exists():
            return {}
        try:
            with open(self.path, "rb") as f:
                if mark_kind(f.readline()) != INDEX_CACHE:
                    warnings.warn(
                        f"{self.path}: not an index cache of mri-recon's; left as it is, unused",
                        stacklevel=3,
                    )
                    self.foreign = True
                    return {}
                stored = pickle.load(f)
        except Exception as err:  # unpickling can fail in many ways; the cache is disposable
            warnings.warn(f"{self.path}: unreadable index cache, rebuilding ({err})", stacklevel=3)
            return {}
        if not isinstance(stored, dict) or stored.get("format") != CACHE_FORMAT:
            warnings.warn(f"{self.path}: not an mri-recon index cache, replacing it", stacklevel=3)
            return {}
        return stored["entries"]

    def get(self, file: Path, challenge: str) -> VolumeInfo | None:
        """The cached ``(metadata, num_slices, layout)`` of ``file`` (``None``: absent, stale)."""
        entry = self.entries.get((str(file.resolve()), challenge))
        if entry is None or entry[0] != _signature(file):
            return None
        return entry[1]

    def put(self, file: Path, challenge: str, info: VolumeInfo) -> None:
        """Records ``file``'s metadata under its current size and modification time."""
        self.entries[(str(file.resolve()), challenge)] = (_signature(file), info)
        self.changed = True

    def prune(self, folder: Path, keep: set[Path]) -> None:
        """Drops entries of files in ``folder`` that are no longer among ``keep``."""
        folder, kept = folder.resolve(), {str(file.resolve()) for file in keep}
        for key in list(self.entries):
            if Path(key[0]).parent == folder and key[0] not in kept:
                del self.entries[key]
                self.changed = True

    def save(self) -> None:
        """Writes the entries atomically when they changed since loading (never over a file
        that is not mri-recon's cache)."""
        if not self.changed or self.foreign:
            return
        with atomic_path(self.path, INDEX_CACHE, overwrite=True) as tmp:
            with open(tmp, "wb") as f:
                f.write(f"# {writer_mark(INDEX_CACHE)}\n".encode())
                pickle.dump({"format": CACHE_FORMAT, "entries": self.entries}, f)
        self.changed = False
        logger.info("Saved dataset index cache to %s", self.path)
