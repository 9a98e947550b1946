"""scripts/benchmark_layers.py runs end to end and prints one ratio per case."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "benchmark_layers.py"
LAYERS = ("InstanceNorm2d", "BatchNorm2d", "GroupNorm", "LayerNorm", "BatchNorm1d")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300
    )


def test_quick_norm_run_prints_a_ratio_per_row():
    result = _run("--quick", "--only", "norm", "--threads", "1", "--markdown")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("torch ") and "ratio = ours / torch" in lines[0]
    assert lines[1] == "| section | case | ours ms | torch ms | ratio |"
    rows = lines[3:]
    assert len(rows) == 5 * len(LAYERS)
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0] == "norm" and cells[1].split()[0] in LAYERS
        ours, ref, ratio = (float(c) for c in cells[2:])
        assert ours > 0 and ref > 0
        assert abs(ratio - ours / ref) <= 0.01 + 0.01 * ratio


def test_bad_option_is_rejected_with_the_option_named():
    result = _run("--batch", "0")
    assert result.returncode == 2
    assert "--batch" in result.stderr
