"""Atomic output: files appear whole or not at all."""

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from mri_recon.data.io import atomic_h5, atomic_path


def test_atomic_h5_writes_readable_file(tmp_path):
    path = tmp_path / "out" / "volume.h5"
    with atomic_h5(path) as hf:
        hf.create_dataset("reconstruction", data=np.ones((2, 4, 4), dtype=np.float32))
        assert not path.exists()
    with h5py.File(path, "r") as hf:
        assert hf["reconstruction"].shape == (2, 4, 4)
    assert [p.name for p in path.parent.iterdir()] == ["volume.h5"]


def test_failed_write_leaves_nothing(tmp_path):
    path = tmp_path / "volume.h5"
    with pytest.raises(RuntimeError, match="interrupted"):
        with atomic_h5(path) as hf:
            hf.create_dataset("reconstruction", data=np.ones(3))
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_unless_asked(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("old")
    with pytest.raises(FileExistsError, match="report.json"):
        with atomic_path(path):
            pass
    assert path.read_text() == "old"
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text("new")
    assert path.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_outputs_get_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "out.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o644
