"""Small simulated fastMRI datasets shared by the training, reconstruction and CLI tests."""

from pathlib import Path

import pytest

from data_prep.config import SimulationConfig
from data_prep.simulate import simulate_dataset

# 32 x 32 brain-like phantoms, 4 coils: 6 train, 2 val, 2 test volumes (4x and 8x) of 3 slices.
SMALL_MULTICOIL = SimulationConfig(
    source="phantom",
    challenge="multicoil",
    coils=4,
    recon_size=32,
    num_volumes=10,
    slices_per_volume=3,
    val_fraction=0.2,
    test_fraction=0.2,
    noise_level=0.01,
    seed=11,
)


@pytest.fixture(scope="session")
def small_multicoil(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Root of ``SMALL_MULTICOIL``: multicoil_{train,val,test,test_truth}/ (read-only for tests)."""
    root = tmp_path_factory.mktemp("small_multicoil")
    simulate_dataset(SMALL_MULTICOIL, root, progress=False)
    return root
