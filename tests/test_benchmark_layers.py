"""scripts/benchmark_layers.py: every section runs and prints speed-ups (torch's time / ours, the
benchmark's convention), and bad options are one line."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark_layers.py"


def run_quick(*args: str) -> list[list[str]]:
    """Runs the script with --quick --markdown and returns the table's cells, row by row."""
    command = [sys.executable, str(SCRIPT), "--quick", "--threads", "1", "--markdown"]
    result = subprocess.run(
        [*command, "--repeats", "1", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[1].split() == "| section | case | ours ms | torch ms | speed-up |".split()
    return [[c.strip() for c in row.strip("|").split("|")] for row in lines[3:]]


def check_ratios(rows: list[list[str]]) -> None:
    """With one repeat the median ratio is the one pair's ratio, torch / ours, up to the
    table's rounding of the times to microseconds and of the ratio to 0.01."""
    for _, _, ours, ref, speed_up in rows:
        assert float(ours) > 0 and float(ref) > 0
        assert abs(float(speed_up) - float(ref) / float(ours)) <= 0.01 + 0.01 * float(speed_up)


@pytest.mark.slow
def test_conv_section_in_bf16() -> None:
    rows = run_quick("--only", "conv", "--bf16")
    assert [row[0] for row in rows] == ["conv"] * 9
    assert sum(row[1].startswith("conv_transpose2d") for row in rows) == 2
    check_ratios(rows)


@pytest.mark.slow
def test_optim_section_times_every_optimizer() -> None:
    rows = run_quick("--only", "optim")
    assert [row[1].split()[0] for row in rows] == ["SGD", "RMSprop", "Adam", "AdamW"]
    assert all(row[1].endswith("7.8M params") for row in rows)
    check_ratios(rows)


@pytest.mark.slow
def test_norm_section_times_every_layer_at_every_shape() -> None:
    rows = run_quick("--only", "norm")
    layers = ("InstanceNorm2d", "BatchNorm2d", "GroupNorm", "LayerNorm", "BatchNorm1d")
    assert [row[1].split()[0] for row in rows] == list(layers) * 5  # the U-Net's 5 shapes
    check_ratios(rows)


@pytest.mark.slow
def test_bad_option_is_rejected_with_the_option_named() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--batch", "0"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2 and "--batch" in result.stderr
