"""Small real fastMRI-format volumes for the data-layer tests, written with ``data_prep``."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from data_prep.physics import center_crop, ifft2c
from mri_recon.data.fastmri_file import Encoding, write_volume

ROWS, COLS = 40, 24
RECON = (16, 16)  # square: the simulator's crop takes one side
PE_FIRST, PE_LAST = 2, 21


def make_kspace(
    challenge: str, num_slices: int, coils: int, cols: int, seed: int, pe: tuple[int, int]
) -> np.ndarray:
    """Random complex k-space, zero outside the acquired phase-encode columns ``pe``."""
    rng = np.random.default_rng(seed)
    shape = (
        (num_slices, ROWS, cols) if challenge == "singlecoil" else (num_slices, coils, ROWS, cols)
    )
    kspace = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    kspace[..., : pe[0]] = 0
    kspace[..., pe[1] + 1 :] = 0
    return kspace.astype(np.complex64)


def rss_target(kspace: np.ndarray, challenge: str) -> np.ndarray:
    """The target fastMRI stores: RSS (or magnitude) of the centre crop of the coil images."""
    image = np.abs(center_crop(ifft2c(kspace.astype(np.complex128)), RECON[0]))
    if challenge == "multicoil":
        image = np.sqrt((image**2).sum(axis=1))
    return image.astype(np.float32)


VolumeWriter = Callable[..., Path]


@pytest.fixture
def write_fastmri_volume() -> VolumeWriter:
    """Writes one volume: ``write(path, challenge, kind="train"|"test", num_slices=3, ...)``."""

    def write(
        path: Path,
        challenge: str,
        kind: str = "train",
        num_slices: int = 3,
        coils: int = 4,
        cols: int = COLS,
        seed: int = 0,
        overwrite: bool = False,
    ) -> Path:
        pe = (PE_FIRST, PE_LAST - COLS + cols)
        kspace = make_kspace(challenge, num_slices, coils, cols, seed, pe)
        encoding = Encoding((ROWS, cols), RECON, pe[0], pe[1], coils)
        attrs = {"acquisition": "CORPD_FBK", "patient_id": f"p{seed}", "norm": 1.5}
        if kind == "test":
            mask = np.zeros(cols, dtype=bool)
            mask[::3] = True
            mask[cols // 2 - 2 : cols // 2 + 2] = True
            kspace = kspace * mask
            return write_volume(path, kspace, encoding, attrs, mask=mask, overwrite=overwrite)
        key = "reconstruction_esc" if challenge == "singlecoil" else "reconstruction_rss"
        target = rss_target(kspace, challenge)
        attrs = {**attrs, "max": float(target.max())}
        return write_volume(path, kspace, encoding, attrs, {key: target}, overwrite=overwrite)

    return write


@pytest.fixture(autouse=True)
def cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Points the index cache at a fresh folder for every test."""
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("MRI_RECON_CACHE_DIR", str(folder))
    return folder
