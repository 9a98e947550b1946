"""The ``mri-recon`` console script, run as a user runs it."""

import subprocess
import sys
from pathlib import Path

import pytest

from mri_recon.cli import main

CLI = [sys.executable, "-m", "mri_recon.cli"]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_demo_builds_then_reuses_the_demo_dataset(tmp_path: Path) -> None:
    first = run("demo", "--output-dir", "out", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "built the demo dataset" in first.stdout
    data = tmp_path / "out" / "data"
    counts = {d.name: len(list(d.glob("*.h5"))) for d in data.iterdir() if d.is_dir()}
    assert counts == {
        "multicoil_train": 24,
        "multicoil_val": 6,
        "multicoil_test": 6,
        "multicoil_test_truth": 6,
    }
    # Nothing is written outside the output folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]

    second = run("demo", "--output-dir", "out", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "already complete" in second.stdout


def test_demo_into_a_file_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    assert main(["demo", "--output-dir", str(blocker)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("mri-recon demo: error:") and "taken" in error
    assert len(error.splitlines()) == 1
    assert blocker.read_text() == "not a folder"


def test_unknown_command_exits_with_usage(tmp_path: Path) -> None:
    result = run("no-such-command", cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
