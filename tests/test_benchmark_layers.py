"""scripts/benchmark_layers.py: the optimizer and convolution sections run and print ratios."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark_layers.py"


def run_quick(*args: str) -> list[list[str]]:
    """Runs the script with --quick --markdown and returns the table's cells, row by row."""
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--threads", "1", "--markdown", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[1] == "| section | case | ours ms | torch ms | ratio |"
    return [[c.strip() for c in row.strip("|").split("|")] for row in lines[3:]]


def check_ratios(rows: list[list[str]]) -> None:
    for _, _, ours, ref, ratio in rows:
        assert float(ours) > 0 and float(ref) > 0
        assert abs(float(ratio) - float(ours) / float(ref)) <= 0.01 + 0.01 * float(ratio)


def test_conv_section_in_bf16() -> None:
    rows = run_quick("--only", "conv", "--bf16")
    assert [row[0] for row in rows] == ["conv"] * 9
    assert sum(row[1].startswith("conv_transpose2d") for row in rows) == 2
    check_ratios(rows)


def test_optim_section_times_every_optimizer() -> None:
    rows = run_quick("--only", "optim", "--repeats", "2")
    assert [row[1].split()[0] for row in rows] == ["SGD", "RMSprop", "Adam", "AdamW"]
    assert all(row[1].endswith("7.8M params") for row in rows)
    check_ratios(rows)
