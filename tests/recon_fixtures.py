"""Shared by the ``reconstruct`` and ``evaluate`` CLI tests: a tiny trained checkpoint, helpers
to run ``mri-recon`` in-process, and the oracles built from fastmri's own reader and primitives.

Test modules load it with ``pytest_plugins = ("tests.recon_fixtures",)`` so the checkpoint is
trained once per session.
"""

import csv
import shutil
from pathlib import Path

import fastmri
import h5py
import numpy as np
import pytest
import torch
from fastmri.data import SliceDataset
from fastmri.data.subsample import MaskFunc
from fastmri.data.transforms import VarNetDataTransform, complex_center_crop

from mri_recon.cli import main
from tests.training.conftest import fit_args, run_cli

TINY_FIT = ("--model.net.init_args.chans", "4", "--trainer.max_epochs", "1")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory, small_multicoil: Path) -> Path:
    """``last.ckpt`` of one epoch of ``configs/demo.yaml`` (4 channels) on ``small_multicoil``."""
    root = tmp_path_factory.mktemp("tiny_fit")
    folder = root / "checkpoints"
    overrides = (*TINY_FIT, "--checkpoint.dirpath", str(folder))
    run_cli(*fit_args("demo", small_multicoil, root, *overrides))
    return folder / "last.ckpt"


def run_main(capsys: pytest.CaptureFixture, *args: str | Path) -> tuple[int, str, str]:
    """``mri-recon <args>`` in this process: exit code, stdout and stderr."""
    code = main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_line(err: str, command: str) -> str:
    """The single error line on stderr, checked to start with ``mri-recon <command>: error:``."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"mri-recon {command}: error:"), err
    return lines[0]


def copy_folder(source: Path, destination: Path, *extra: Path) -> Path:
    """A writable copy of a data folder, plus ``extra`` files from elsewhere."""
    shutil.copytree(source, destination)
    for file in extra:
        shutil.copy(file, destination / file.name)
    return destination


def read_volume(path: Path, key: str = "reconstruction") -> np.ndarray:
    """One dataset of an HDF5 file."""
    with h5py.File(path, "r") as hf:
        return hf[key][()]


def read_csv(path: Path, kind: str) -> list[dict[str, str]]:
    """The rows of a CSV file mri-recon wrote, after checking its first line: the mark of
    ``kind`` as a comment."""
    mark, *lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert mark.startswith("# mri-recon ") and mark.rstrip().endswith(f"({kind})"), mark
    return list(csv.DictReader(lines))


def temp_files(folder: Path) -> list[Path]:
    """Leftovers of atomic writes (``.<name>.<random>.tmp``)."""
    return sorted(folder.glob(".*.tmp"))


def zero_filled_by_fastmri(file: Path, mask_func: MaskFunc | None) -> np.ndarray:
    """The zero-filled multicoil volume of ``file`` from fastmri alone: its reader, its seeded
    masking (the stored mask when ``mask_func`` is ``None``), ifft2c, crop, magnitude, RSS."""
    dataset = SliceDataset(
        file.parent, "multicoil", transform=VarNetDataTransform(mask_func, use_seed=True)
    )
    dataset.raw_samples = [s for s in dataset.raw_samples if s.fname.name == file.name]
    slices = []
    for sample in dataset:
        image = fastmri.ifft2c(sample.masked_kspace)
        image = fastmri.complex_abs(complex_center_crop(image, sample.crop_size))
        slices.append(fastmri.rss(image))
    return torch.stack(slices).numpy()
