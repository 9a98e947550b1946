"""The metadata index cache: where it lives, hits, invalidation, and never writing into cwd."""

import logging
import os
from pathlib import Path

import pytest

from mri_recon.data import SliceDataset
from mri_recon.data.index_cache import default_cache_dir, default_cache_file

LOGGER = "mri_recon.data.slice_dataset"


def index_counts(caplog: pytest.LogCaptureFixture) -> str:
    """The '(N read, M cached)' part of the last index log line."""
    line = [r.getMessage() for r in caplog.records if r.name == LOGGER][-1]
    return line[line.index("(") :]


def build(root: Path, caplog: pytest.LogCaptureFixture, **options) -> SliceDataset:
    with caplog.at_level(logging.INFO, logger=LOGGER):
        return SliceDataset(root, "multicoil", use_dataset_cache=True, **options)


def test_default_cache_dir_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MRI_RECON_CACHE_DIR", str(tmp_path / "own"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "own"
    monkeypatch.delenv("MRI_RECON_CACHE_DIR")
    assert default_cache_dir() == tmp_path / "xdg" / "mri-recon"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "mri-recon"


def test_cache_file_is_per_folder(tmp_path: Path, cache_dir: Path) -> None:
    first, second = (
        default_cache_file(tmp_path / "a" / "x"),
        default_cache_file(tmp_path / "b" / "x"),
    )
    assert first.parent == second.parent == cache_dir
    assert first != second


def test_cache_hit_never_in_cwd(tmp_path, write_fastmri_volume, cache_dir, caplog, monkeypatch):
    root, cwd = tmp_path / "data", tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    for seed in range(2):
        write_fastmri_volume(root / f"vol{seed}.h5", "multicoil", seed=seed)
    first = build(root, caplog)
    assert index_counts(caplog) == "(2 read, 0 cached)"
    second = build(root, caplog)
    assert index_counts(caplog) == "(0 read, 2 cached)"
    assert second.raw_samples == first.raw_samples
    assert list(cwd.iterdir()) == []
    assert sorted(p.name for p in root.iterdir()) == ["vol0.h5", "vol1.h5"]
    assert [p.name for p in cache_dir.iterdir()] == [default_cache_file(root).name]


def test_touched_or_rewritten_file_is_read_again(tmp_path, write_fastmri_volume, caplog) -> None:
    for seed in range(2):
        write_fastmri_volume(tmp_path / f"vol{seed}.h5", "multicoil", seed=seed)
    build(tmp_path, caplog)
    stat = (tmp_path / "vol0.h5").stat()
    os.utime(tmp_path / "vol0.h5", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    build(tmp_path, caplog)
    assert index_counts(caplog) == "(1 read, 1 cached)"
    write_fastmri_volume(tmp_path / "vol1.h5", "multicoil", num_slices=5, cols=30, overwrite=True)
    dataset = build(tmp_path, caplog)
    assert index_counts(caplog) == "(1 read, 1 cached)"
    vol1 = [s for s in dataset.raw_samples if s.fname.name == "vol1.h5"]
    assert len(vol1) == 5
    assert vol1[0].metadata["encoding_size"] == (40, 30, 1)


def test_new_and_removed_files_are_noticed(tmp_path, write_fastmri_volume, caplog) -> None:
    write_fastmri_volume(tmp_path / "vol0.h5", "multicoil")
    build(tmp_path, caplog)
    write_fastmri_volume(tmp_path / "vol1.h5", "multicoil", seed=1)
    assert len(build(tmp_path, caplog)) == 6
    assert index_counts(caplog) == "(1 read, 1 cached)"
    (tmp_path / "vol0.h5").unlink()
    assert {s.fname.name for s in build(tmp_path, caplog).raw_samples} == {"vol1.h5"}


def test_bad_files_are_never_cached(tmp_path: Path, write_fastmri_volume, caplog) -> None:
    write_fastmri_volume(tmp_path / "good.h5", "multicoil")
    (tmp_path / "bad.h5").write_bytes(b"garbage")
    for _ in range(2):
        with pytest.warns(UserWarning, match="bad.h5: not a readable HDF5 file"):
            build(tmp_path, caplog, skip_bad_files=True)
    assert index_counts(caplog) == "(0 read, 1 cached)"


def test_challenges_are_cached_apart(tmp_path: Path, write_fastmri_volume) -> None:
    write_fastmri_volume(tmp_path / "vol.h5", "multicoil")
    SliceDataset(tmp_path, "multicoil", use_dataset_cache=True)
    with pytest.raises(ValueError, match="must be 3-D"):
        SliceDataset(tmp_path, "singlecoil", use_dataset_cache=True)


def test_an_unreadable_cache_of_ours_is_rebuilt(tmp_path, write_fastmri_volume, caplog) -> None:
    root = tmp_path / "data"
    write_fastmri_volume(root / "vol.h5", "multicoil")
    cache_file = tmp_path / "my_cache.cache"
    build(root, caplog, dataset_cache_file=cache_file)
    mark = cache_file.read_bytes().split(b"\n", 1)[0]
    assert mark.startswith(b"# mri-recon ") and mark.endswith(b"(index-cache)")
    cache_file.write_bytes(mark + b"\n\x80 not a pickle")  # ours, damaged
    with pytest.warns(UserWarning, match="unreadable index cache"):
        build(root, caplog, dataset_cache_file=cache_file)
    assert index_counts(caplog) == "(1 read, 0 cached)"
    build(root, caplog, dataset_cache_file=cache_file)
    assert index_counts(caplog) == "(0 read, 1 cached)"


@pytest.mark.parametrize("content", [b"\x80\x04}\x94.", b"\x80 not a pickle", b"my notes"])
def test_a_file_that_is_not_our_cache_is_never_replaced(
    content: bytes, tmp_path, write_fastmri_volume, caplog
) -> None:
    """fastmri's own cache format, a damaged file, anything without the mark: left alone."""
    root = tmp_path / "data"
    write_fastmri_volume(root / "vol.h5", "multicoil")
    cache_file = tmp_path / "cache.pkl"
    cache_file.write_bytes(content)
    for _ in range(2):
        with pytest.warns(UserWarning, match="not an index cache of mri-recon's; left as it is"):
            dataset = build(root, caplog, dataset_cache_file=cache_file)
        assert index_counts(caplog) == "(1 read, 0 cached)" and len(dataset) == 3
    assert cache_file.read_bytes() == content


def test_without_cache_nothing_is_written(tmp_path, write_fastmri_volume, cache_dir) -> None:
    write_fastmri_volume(tmp_path / "vol.h5", "multicoil")
    SliceDataset(tmp_path, "multicoil")
    assert list(cache_dir.iterdir()) == []
