"""Helpers the tests share: the small simulated dataset's settings, running ``mri-recon`` and
``mri-recon fit`` in-process, reading what they write, and the oracles built from fastmri's own
reader and primitives. A plain module, imported by test modules (the fixtures are in conftest.py).
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

from data_prep.config import SimulationConfig
from mri_recon.cli import main
from mri_recon.inference.comparison import read_target
from mri_recon.inference.volumes import reconstruct_volumes, volume_dataset
from mri_recon.metrics import ssim
from mri_recon.options import MaskSettings
from mri_recon.training.cli import ReconCLI, cli_main

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
TINY_FIT = ("--model.net.init_args.chans", "4", "--trainer.max_epochs", "1")
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def exhaustive(*cases: object) -> list:
    """The rest of a parametrised sweep, marked ``slow``: ``make test`` runs every case, while
    ``make test-fast`` keeps the cases listed before these (one plain, one with every option)."""
    return [pytest.param(case, marks=pytest.mark.slow) for case in cases]


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


def zero_filled_val_ssim(data: Path) -> float:
    """Mean over validation volumes of the zero-filled input's SSIM, as val/ssim scores the
    U-Net: the demo's (seeded) masks, the file's target, data range = the file's 'max'."""
    folder = data / "multicoil_val"
    mask = MaskSettings("random", [0.08, 0.04], [4, 8])
    dataset = volume_dataset(folder, "multicoil", mask)
    scores = []
    for volume in reconstruct_volumes(None, dataset, torch.device("cpu"), progress=False):
        target, _ = read_target(folder / volume.fname, "multicoil")
        with h5py.File(folder / volume.fname, "r") as hf:
            maxval = float(hf.attrs["max"])
        scores.append(ssim(target, volume.zero_filled, maxval=maxval))
    return float(np.mean(scores))


def last_state(root: Path) -> dict:
    (last,) = root.rglob("last.ckpt")
    return torch.load(last, map_location="cpu", weights_only=True)


def assert_finite_run(cli) -> None:
    """The run logged finite training and validation losses and SSIM, and its weights are
    finite."""
    for name in ("train/loss", "val/loss", "val/ssim"):
        assert torch.isfinite(cli.trainer.callback_metrics[name]), name
    assert all(torch.isfinite(p).all() for p in cli.model.parameters())


def assert_identical(got, expected, where: str = "") -> None:
    """Nested dicts/lists of tensors and plain values are equal bit for bit."""
    if isinstance(expected, dict):
        assert got.keys() == expected.keys(), where
        for key in expected:
            assert_identical(got[key], expected[key], f"{where}/{key}")
    elif isinstance(expected, list | tuple):
        assert len(got) == len(expected), where
        for i, (a, b) in enumerate(zip(got, expected)):
            assert_identical(a, b, f"{where}/{i}")
    elif isinstance(expected, torch.Tensor):
        assert torch.equal(got, expected), where
    else:
        assert got == expected, where


def assert_step_equals_eager(net: torch.nn.Module, inputs: tuple, compiled) -> None:
    """One forward and backward step of ``compiled`` (``net`` through ``torch.compile`` or
    ``Compiled``, called with ``inputs``) gives ``net``'s eager output and weight gradients, in
    float64 (``net`` and the floating inputs are converted here). In float32 two paths round
    differently (about 1e-6), enough to put a pre-activation on the other side of LeakyReLU's
    kink on some CPU, which moves whole weight gradients by a few percent."""
    net.double()
    inputs = tuple(x.double() if x.is_floating_point() else x for x in inputs)
    results = []
    for run in (net, compiled):
        net.zero_grad(set_to_none=True)
        out = run(*inputs)
        generator = torch.Generator().manual_seed(0)
        weights = torch.randn(out.shape, generator=generator, dtype=out.dtype)
        (out * weights).sum().backward()  # a loss whose gradient reaches every weight
        results.append((out.detach(), {k: p.grad for k, p in net.named_parameters()}))
    (eager, eager_grads), (out, grads) = results
    torch.testing.assert_close(out, eager, rtol=0, atol=1e-10 * eager.abs().max().item())
    for name, grad in eager_grads.items():
        scale = grad.abs().max().item()
        torch.testing.assert_close(grads[name], grad, rtol=0, atol=1e-10 * scale, msg=name)
