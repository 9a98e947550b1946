"""Atomic output: files appear whole or not at all."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from mri_recon.data.io import atomic_h5, atomic_path, check_writable

# Starts an atomic write of argv[1], says so, and waits to be killed in the middle of it.
KILLED_WRITER = """
import sys, time
from mri_recon.data.io import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_text("half")
    print("writing", flush=True)
    time.sleep(600)
"""


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


def test_a_killed_write_leaves_a_leftover_that_the_next_write_removes(tmp_path: Path) -> None:
    path = tmp_path / "out.h5"
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout.readline().strip() == "writing"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    (leftover,) = tmp_path.iterdir()
    assert leftover.name.startswith(".out.h5.") and leftover.suffix == ".tmp"
    others = tmp_path / ".other.h5.somehost-1.abc.tmp"  # another destination's: not ours to judge
    others.write_text("x")
    with atomic_h5(path) as hf:
        hf.create_dataset("reconstruction", data=np.ones(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == [others.name, "out.h5"]


def test_a_live_writers_temporary_file_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    with atomic_path(path) as tmp:
        tmp.write_text("first")
        with atomic_path(tmp_path / "out.txt", overwrite=True) as second:
            second.write_text("second")
        assert tmp.exists()  # this process is alive: its file is not a leftover
    assert path.read_text() == "first"


def test_check_writable_before_any_work(tmp_path: Path) -> None:
    check_writable(tmp_path / "new" / "deeper" / "report.json", "output")
    check_writable(tmp_path / "outputs", "output-path", folder=True)
    assert list(tmp_path.iterdir()) == []  # nothing created, no probe left
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match=f"output: {blocker}/r.json cannot be written: .* not a"):
        check_writable(blocker / "r.json", "output")
    with pytest.raises(ValueError, match="output: /proc/mri-recon/r.json cannot be written"):
        check_writable("/proc/mri-recon/r.json", "output")
