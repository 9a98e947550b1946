"""Tiny simulated datasets shared by the data_prep tests (simulated once per session)."""

from dataclasses import replace
from pathlib import Path

import pytest

from data_prep.config import SimulationConfig
from data_prep.simulate import simulate_dataset

# Small enough to simulate in about a second: 32 x 32 targets, 4 coils, 4 volumes of 3 slices.
TINY = SimulationConfig(
    source="phantom",
    challenge="multicoil",
    coils=4,
    recon_size=32,
    kspace_width=40,
    num_volumes=4,
    slices_per_volume=3,
    val_fraction=0.25,
    test_fraction=0.5,
    noise_level=0.02,
    pad_lines=3,
    seed=7,
)


@pytest.fixture(scope="session")
def tiny_config() -> SimulationConfig:
    return TINY


@pytest.fixture(scope="session")
def multicoil_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny multicoil dataset: 1 train, 1 val, 2 test volumes (one at 4x, one at 8x)."""
    root = tmp_path_factory.mktemp("multicoil")
    simulate_dataset(TINY, root, progress=False)
    return root


@pytest.fixture(scope="session")
def singlecoil_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny singlecoil dataset with the same split sizes."""
    root = tmp_path_factory.mktemp("singlecoil")
    simulate_dataset(replace(TINY, challenge="singlecoil", coils=None), root, progress=False)
    return root
