"""scripts/compare_demo_with_fastmri.py on a small demo dataset: the demo recipe for one epoch,
fastMRI's U-Net trained by fastMRI's classes for as long, both scored on the test split."""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from fastmri.models import Unet as FastmriUnet

from data_prep.demo import build_demo_dataset
from tests.helpers import SMALL_MULTICOIL

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare_demo_with_fastmri.py"
CONFIG = replace(SMALL_MULTICOIL, num_volumes=8, val_fraction=0.25, test_fraction=0.25)


@pytest.mark.slow  # a new process that trains two networks
def test_one_seed_trains_both_for_the_same_time_and_scores_both(tmp_path: Path) -> None:
    data, out, report = tmp_path / "data", tmp_path / "out", tmp_path / "comparison.json"
    build_demo_dataset(data, config=CONFIG)
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(data), "--output-dir", str(out),
         "--seeds", "3", "--max-epochs", "1", "--json", str(report)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (run,) = json.loads(report.read_text())["results"]
    assert run["seed"] == 3 and run["seconds"] > 0
    assert Path(run["demo_checkpoint"]).parent == out / "seed3" / "demo" / "checkpoints"
    reference = run["reference"]
    assert 1 <= reference["best_epoch"] <= reference["epochs"] and reference["steps"] >= 1
    weights = torch.load(out / "seed3" / "fastmri_unet.pt", weights_only=True)
    FastmriUnet(1, 1, 16, 4).load_state_dict(weights)  # fastMRI's own network
    for method in ("zero-filled", "demo recipe", "fastMRI reference"):
        for group in ("4x", "8x"):
            assert 0 < run["scores"][method][group]["ssim_mean"] <= 1, (method, group)
    table = result.stdout.strip().splitlines()
    assert any("fastMRI reference" in line and "8x" in line for line in table)


@pytest.mark.slow  # a new process that imports torch
def test_an_existing_output_folder_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(tmp_path), "--output-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith(f"--output-dir: {tmp_path} exists (give a new folder)")
    )
