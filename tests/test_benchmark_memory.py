"""scripts/benchmark_memory.py: reads slices through worker processes and prints the growth."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark_memory.py"


@pytest.mark.slow
def test_a_short_run_prints_its_table_row(small_multicoil: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(small_multicoil / "multicoil_train"),
         "--slices", "40", "--warmup", "10", "--workers", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    header, _, row = result.stdout.strip().splitlines()[-3:]
    assert header.startswith("| slices read | workers |")
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[:2] == ["40 (of 18)", "1"] and cells[-1].endswith("%")
    assert all(cell.endswith("MiB") and float(cell.split()[0]) > 0 for cell in cells[2:5])
