"""Atomic, marked output: files appear whole or not at all; only mri-recon's own are replaced."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from mri_recon.data.io import (
    ForeignFileError,
    atomic_h5,
    atomic_path,
    check_output,
    check_output_folder,
    check_owned,
    check_writable,
)
from mri_recon.data.marks import read_kind, writer_mark

# Starts an atomic write of argv[1], says so, and waits to be killed in the middle of it.
KILLED_WRITER = """
import sys, time
from mri_recon.data.io import atomic_path
with atomic_path(sys.argv[1], "report") as tmp:
    tmp.write_text("half")
    print("writing", flush=True)
    time.sleep(600)
"""


def test_atomic_h5_writes_readable_file(tmp_path):
    path = tmp_path / "out" / "volume.h5"
    with atomic_h5(path, "reconstruction", source=tmp_path / "in.h5") as hf:
        hf.create_dataset("reconstruction", data=np.ones((2, 4, 4), dtype=np.float32))
        assert not path.exists()
    with h5py.File(path, "r") as hf:
        assert hf["reconstruction"].shape == (2, 4, 4)
        assert hf.attrs["written_by"] == writer_mark("reconstruction")
        assert hf.attrs["source"] == str(tmp_path / "in.h5")
    assert read_kind(path) == "reconstruction"
    assert [p.name for p in path.parent.iterdir()] == ["volume.h5"]


def test_failed_write_leaves_nothing(tmp_path):
    path = tmp_path / "volume.h5"
    with pytest.raises(RuntimeError, match="interrupted"):
        with atomic_h5(path, "reconstruction") as hf:
            hf.create_dataset("reconstruction", data=np.ones(3))
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_unless_asked(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text(f"# {writer_mark('report')}\nold")
    with pytest.raises(FileExistsError, match="notes.txt"):
        with atomic_path(path, "report"):
            pass
    assert path.read_text().endswith("old")
    with atomic_path(path, "report", overwrite=True) as tmp:
        tmp.write_text("new")
    assert path.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(
    "name, content",
    [
        ("notes.txt", b"my notes"),  # no mark
        ("notes.txt", b"# mri-recon 0.1.0 (figure)\nx"),  # another kind of output of ours
        ("volume.h5", b"\x89HDF\r\n\x1a\n truncated"),  # unreadable: proves nothing
        ("report.json", b'{"written_by": "someone else"}'),
    ],
)
def test_never_replaces_a_file_it_did_not_write(name: str, content: bytes, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    kind = "figure" if b"figure" not in content else "report"
    with pytest.raises(ForeignFileError, match=f"{path} was not written by mri-recon as a {kind}"):
        with atomic_path(path, kind, overwrite=True) as tmp:
            tmp.write_text("new")
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_a_folder_or_a_link_in_the_way_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "folder.txt").mkdir()
    target = tmp_path / "target.txt"
    target.write_text(f"# {writer_mark('report')}\n")
    (tmp_path / "link.txt").symlink_to(target)
    for name, why in (("folder.txt", "is a folder"), ("link.txt", "is a symbolic link")):
        with pytest.raises(ForeignFileError, match=why):
            with atomic_path(tmp_path / name, "report", overwrite=True):
                pass
    assert (tmp_path / "folder.txt").is_dir() and (tmp_path / "link.txt").is_symlink()


def test_check_owned_names_the_first_foreign_file_and_counts_them(tmp_path: Path) -> None:
    ours, theirs, other = (tmp_path / f"{n}.txt" for n in ("ours", "a", "b"))
    ours.write_text(f"# {writer_mark('study')}\n")
    theirs.write_text("x")
    other.write_text("y")
    missing = tmp_path / "missing.txt"
    assert check_owned([ours, missing], "study", "output-dir") == [ours]
    message = (
        f"output-dir: {theirs} was not written by mri-recon as a study (and 1 more file(s) in "
        "the way); mri-recon never replaces what it did not write: move it away or write elsewhere"
    )
    with pytest.raises(ForeignFileError) as error:
        check_owned([ours, theirs, missing, other], "study", "output-dir")
    assert str(error.value) == message


def test_check_output_before_any_work(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    report = tmp_path / "report.json"
    assert check_output(report, "output", "report", inputs=[data, None]) == report
    with pytest.raises(ValueError, match="output: .* is inside the input folder"):
        check_output(data / "r.json", "output", "report", inputs=[data])
    report.write_text(f'{{"written_by": "{writer_mark("report")}"}}')
    with pytest.raises(FileExistsError, match="already exists .pass --overwrite to replace it."):
        check_output(report, "output", "report")
    check_output(report, "output", "report", overwrite=True)
    with pytest.raises(ForeignFileError, match="was not written by mri-recon as a benchmark"):
        check_output(report, "json", "benchmark", overwrite=True)
    with pytest.raises(ValueError, match="json: .*missing/b.json cannot be written"):
        check_output(report / "missing" / "b.json", "json", "benchmark")
    with pytest.raises(ForeignFileError, match="is a folder"):
        check_output(data, "json", "benchmark", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "report.json"]


def test_check_output_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    assert check_output_folder(tmp_path / "out", "output-path", [data]) == tmp_path / "out"
    with pytest.raises(ValueError, match="output-path: .* is inside the input folder"):
        check_output_folder(data / "out", "output-path", [data])
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="output-path: .*file exists and is not a folder"):
        check_output_folder(tmp_path / "file", "output-path")
    assert not (tmp_path / "out").exists()


def test_outputs_get_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "out.txt", "report") as tmp:
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
    assert leftover.name.startswith(".out.h5.mri-recon-")
    others = tmp_path / ".other.h5.mri-recon-somehost-1.abc.tmp"  # another destination's
    not_ours = tmp_path / ".out.h5.somehost-1.abc.tmp"  # not named as mri-recon names its own
    others.write_text("x")
    not_ours.write_text("x")
    with atomic_h5(path, "reconstruction") as hf:
        hf.create_dataset("reconstruction", data=np.ones(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [not_ours.name, others.name, "out.h5"]
    )


def test_a_live_writers_temporary_file_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    with atomic_path(path, "report") as tmp:
        tmp.write_text("first")
        with atomic_path(tmp_path / "out.txt", "report", overwrite=True) as second:
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
