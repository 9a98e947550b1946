"""Ctrl-C ends a command with one line and status 130, leaving no partial file behind."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# ``python -m mri_recon`` with SIGINT raising KeyboardInterrupt, as in a terminal's foreground
# job, even when this suite runs with SIGINT ignored (as a background job of a non-interactive
# shell does, and its children inherit).
MRI_RECON = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('mri_recon', run_name='__main__', alter_sys=True)"
)


def interrupt_when(args: list[str], ready: str, cwd: Path) -> subprocess.CompletedProcess:
    """Runs ``mri-recon <args>`` in its own process group, and sends SIGINT to the whole group
    (as a terminal's Ctrl-C does) once ``ready`` appears on its stdout."""
    process = subprocess.Popen(
        [sys.executable, "-c", MRI_RECON, *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    for line in process.stdout:
        if ready in line:
            os.killpg(process.pid, signal.SIGINT)
            break
    stdout, stderr = process.communicate(timeout=300)
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


@pytest.mark.slow
def test_ctrl_c_during_the_benchmarks_competing_job(tmp_path: Path) -> None:
    args = ["benchmark", "--only", "contention", "--quick", "--shrink", "8", "--threads", "1",
            "--contention-steps", "400", "--json", str(tmp_path / "b.json")]  # fmt: skip
    result = interrupt_when(args, "benchmark: contention", tmp_path)
    assert result.returncode == 130
    assert result.stderr.strip().splitlines() == ["mri-recon benchmark: interrupted"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_ctrl_c_during_a_study(small_multicoil: Path, tmp_path: Path) -> None:
    args = ["study", "optimizers", "--data-path", str(small_multicoil),
            "--output-dir", str(tmp_path / "out")]  # fmt: skip
    result = interrupt_when(args, "mri-recon study optimizers:", tmp_path)  # training starts
    assert result.returncode == 130  # progress bars aside, one line: no traceback
    assert result.stderr.strip().splitlines()[-1] == "mri-recon study: interrupted"
    assert "Traceback" not in result.stderr and "Error" not in result.stderr
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(not p.name.endswith(".tmp") for p in leftovers)
