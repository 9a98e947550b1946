"""scripts/benchmark_varnet.py: each mode in its own process, one Markdown row per mode."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark_varnet.py"


@pytest.mark.slow  # four processes, each importing torch
def test_a_tiny_run_prints_a_row_per_mode() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--coils", "2", "--height", "32", "--width", "24",
         "--cascades", "2", "--steps", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("VarNet (aten layers), 2 cascades, 2 coils, 32 x 24")
    rows = [line.strip("|").split("|") for line in lines[-4:]]
    modes = ["train", "train-checkpointed", "train-all-checkpointed", "inference"]
    assert [row[0].strip() for row in rows] == modes
    for row in rows:
        assert float(row[1]) > 0 and all(cell.strip().endswith("GiB") for cell in row[2:])


@pytest.mark.slow  # two processes, each importing torch
def test_the_reference_is_fastmris_varnet_without_checkpointing() -> None:
    tiny = ["--coils", "2", "--height", "32", "--width", "24", "--cascades", "1", "--steps", "1"]
    command = [sys.executable, str(SCRIPT), *tiny, "--reference"]
    refused = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "--reference: fastmri.models.VarNet has no gradient checkpointing" in refused.stderr
    result = subprocess.run(
        [*command, "--modes", "train", "inference"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("fastmri.models.VarNet, 1 cascades, 2 coils, 32 x 24")
    assert [line.split("|")[1].strip() for line in lines[-2:]] == ["train", "inference"]
