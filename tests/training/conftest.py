"""Helpers for running the real ``mri-recon fit|validate|test`` in-process on small data."""

from dataclasses import replace
from pathlib import Path

import pytest

from data_prep.simulate import simulate_dataset
from mri_recon.training.cli import ReconCLI, cli_main
from tests.conftest import SMALL_MULTICOIL

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def run_cli(*args: str) -> ReconCLI:
    """``mri-recon <args>`` in this process; returns the CLI (trainer, model, datamodule)."""
    return cli_main(list(args))


def fit_args(config: str, data: Path, root: Path, *overrides: str) -> list[str]:
    """``fit`` through ``configs/<config>.yaml`` on ``data``, writing under ``root``, CPU only."""
    return [
        "fit",
        "--config", str(CONFIGS / f"{config}.yaml"),
        "--data.data_path", str(data),
        "--data.num_workers", "0",
        "--trainer.accelerator", "cpu",
        "--trainer.devices", "1",
        "--trainer.default_root_dir", str(root),
        "--trainer.enable_progress_bar", "false",
        *overrides,
    ]  # fmt: skip


@pytest.fixture(scope="session")
def small_singlecoil(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Like ``small_multicoil`` for the singlecoil challenge."""
    root = tmp_path_factory.mktemp("small_singlecoil")
    config = replace(SMALL_MULTICOIL, challenge="singlecoil", coils=None)
    simulate_dataset(config, root, progress=False)
    return root
