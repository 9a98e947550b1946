"""The demo builder: builds, reuses a complete build, repairs a partial one, never touches
foreign data."""

import json
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest
from fastmri.data import SliceDataset

from data_prep.demo import DEMO_CONFIG, MANIFEST_NAME, build_demo_dataset

# The demo's own settings, shrunk: same source, challenge and split shares.
SMALL = replace(DEMO_CONFIG, coils=4, recon_size=32, num_volumes=6, slices_per_volume=2)


def mtimes(root: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*.h5")}


def test_builds_then_reuses_then_repairs(tmp_path: Path) -> None:
    built = build_demo_dataset(tmp_path, config=SMALL, progress=False)
    assert not built.reused and str(built).startswith("built the demo dataset")
    counts = {key: len(paths) for key, paths in built.summary.files.items()}
    assert counts == {"train": 4, "val": 1, "test": 1, "test_truth": 1}
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert manifest["config"]["source"] == "mni152" and manifest["kspace_shape"] == [2, 4, 64, 32]

    before = mtimes(tmp_path)
    reused = build_demo_dataset(tmp_path, config=SMALL, progress=False)
    assert reused.reused and "already complete" in str(reused) and "multicoil_train/" in str(reused)
    assert reused.summary.files == built.summary.files and mtimes(tmp_path) == before

    # A missing file (an interrupted build, say) makes the next call rebuild.
    built.summary.files["val"][0].unlink()
    repaired = build_demo_dataset(tmp_path, config=SMALL, progress=False)
    assert not repaired.reused and set(mtimes(tmp_path)) == set(before)


@pytest.mark.parametrize("overwrite", [False, True])
def test_never_touches_foreign_data(overwrite: bool, tmp_path: Path) -> None:
    foreign = tmp_path / "multicoil_train" / "mine.h5"
    foreign.parent.mkdir()
    with h5py.File(foreign, "w") as hf:
        hf["kspace"] = np.zeros((1, 2, 4, 4), dtype=np.complex64)
    content = foreign.read_bytes()
    with pytest.raises(FileExistsError, match="mine.h5 was not written by mri-recon as a dataset"):
        build_demo_dataset(tmp_path, overwrite=overwrite, config=SMALL, progress=False)
    assert list(tmp_path.rglob("*")) == [foreign.parent, foreign]
    assert foreign.read_bytes() == content


def test_overwrite_replaces_an_earlier_build(tmp_path: Path) -> None:
    build_demo_dataset(tmp_path, config=SMALL, progress=False)
    before = mtimes(tmp_path)
    rebuilt = build_demo_dataset(tmp_path, overwrite=True, config=SMALL, progress=False)
    assert not rebuilt.reused and set(mtimes(tmp_path)) == set(before)
    assert all(mtimes(tmp_path)[path] != before[path] for path in before)


@pytest.mark.slow
def test_full_demo_dataset(tmp_path: Path) -> None:
    result = build_demo_dataset(tmp_path, progress=False)
    counts = {key: len(paths) for key, paths in result.summary.files.items()}
    assert counts == {"train": 24, "val": 6, "test": 6, "test_truth": 6}
    assert result.summary.kspace_shape == (6, 8, 256, 128)
    assert result.summary.target_shape == (6, 128, 128)
    assert result.summary.num_bytes < 600 * 2**20
    dataset = SliceDataset(
        tmp_path / "multicoil_val", "multicoil", dataset_cache_file=tmp_path / "cache.pkl"
    )
    kspace, _, target, *_ = dataset[0]
    assert len(dataset) == 36 and kspace.shape == (8, 256, 128) and target.shape == (128, 128)
