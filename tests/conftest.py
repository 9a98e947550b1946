"""The fixtures every test folder shares: small simulated fastMRI datasets (built once per
session), a tiny trained checkpoint, one torch thread for the tests that ask for it, and one
inductor cache and mri-recon cache folder for the session (not the user's); and the order the
tests run in (the slow ones first)."""

import os
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from data_prep.simulate import simulate_dataset
from tests.helpers import SMALL_MULTICOIL, TINY_FIT, fit_args, run_cli


@pytest.fixture(scope="session")
def small_multicoil(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Root of ``SMALL_MULTICOIL``: multicoil_{train,val,test,test_truth}/ (read-only for tests)."""
    root = tmp_path_factory.mktemp("small_multicoil")
    simulate_dataset(SMALL_MULTICOIL, root, progress=False)
    return root


@pytest.fixture(scope="session")
def small_singlecoil(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Like ``small_multicoil`` for the singlecoil challenge."""
    root = tmp_path_factory.mktemp("small_singlecoil")
    config = replace(SMALL_MULTICOIL, challenge="singlecoil", coils=None)
    simulate_dataset(config, root, progress=False)
    return root


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory, small_multicoil: Path) -> Path:
    """``last.ckpt`` of one epoch of ``configs/demo.yaml`` (4 channels) on ``small_multicoil``."""
    root = tmp_path_factory.mktemp("tiny_fit")
    folder = root / "checkpoints"
    overrides = (*TINY_FIT, "--checkpoint.dirpath", str(folder))
    run_cli(*fit_args("demo", small_multicoil, root, *overrides))
    return folder / "last.ckpt"


@pytest.fixture
def one_thread():
    """Run on one thread: for tiny nets a shared CI machine thrashes with two (the optimizer and
    study tests use it for all their tests)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session", autouse=True)
def inductor_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """torch.compile's kernels of this session (and its subprocesses), compiled once each, and
    mri-recon's cache folder (slice indexes) in the session's tmp, not the user's home."""
    os.environ["MRI_RECON_CACHE_DIR"] = str(tmp_path_factory.mktemp("mri_recon_cache"))
    folder = tmp_path_factory.mktemp("inductor")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)
    return folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first, each group in its collected order. ``make test`` runs with
    ``--dist worksteal``: a worker that runs out of tests takes pending ones from another, so
    with the long tests started early no worker finishes one alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
