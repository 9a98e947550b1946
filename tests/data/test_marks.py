"""The writer's mark, read back from every format mri-recon writes, by the kind it names."""

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mri_recon.data.io import atomic_h5
from mri_recon.data.marks import is_ours, mark_kind, read_kind, version, writer_mark
from mri_recon.figures import save_preview_png
from mri_recon.nifti import save_nifti
from mri_recon.report import write_csv, write_json, write_text


def test_the_mark_names_program_version_and_kind() -> None:
    assert writer_mark("report") == f"mri-recon {version()} (report)"
    assert version() != "unknown"  # the test environment has the project installed
    assert mark_kind(b"# mri-recon 0.1.0 (index-cache)") == "index-cache"
    assert mark_kind("made by mri-recon, version 2") is None and mark_kind(None) is None


def test_each_writer_marks_its_format(tmp_path: Path) -> None:
    volume = np.random.default_rng(0).random((3, 8, 6)).astype(np.float32)
    with atomic_h5(tmp_path / "a.h5", "reconstruction") as hf:
        hf.create_dataset("reconstruction", data=volume)
    save_preview_png(volume, tmp_path / "a.png")
    save_nifti(volume, tmp_path / "a.nii.gz")
    save_nifti(volume, tmp_path / "b.nii")
    write_json(tmp_path / "a.json", {"x": float("nan"), "y": (1, 2)}, "benchmark")
    write_csv(tmp_path / "a.csv", [{"a": 1, "b": 2, "c": 3}], ["a", "b"], "report")
    write_text(tmp_path / "a.txt", "text\n", "study")
    expected = {
        "a.h5": "reconstruction", "a.png": "preview", "a.nii.gz": "nifti", "b.nii": "nifti",
        "a.json": "benchmark", "a.csv": "report", "a.txt": "study",
    }  # fmt: skip
    assert {name: read_kind(tmp_path / name) for name in expected} == expected
    assert (tmp_path / "a.json").read_text().startswith('{\n  "written_by": "mri-recon ')
    assert '"x": null' in (tmp_path / "a.json").read_text()  # strict JSON
    assert (tmp_path / "a.csv").read_text().splitlines()[1:] == ["a,b", "1,2"]
    with Image.open(tmp_path / "a.png") as image:
        assert image.info["Software"] == writer_mark("preview")


def test_a_checkpoint_is_ours_by_its_section(tmp_path: Path) -> None:
    torch.save({"state_dict": {}, "mri_recon": {"format": 1}}, tmp_path / "ours.ckpt")
    torch.save({"state_dict": {}}, tmp_path / "theirs.ckpt")
    assert is_ours(tmp_path / "ours.ckpt", "checkpoint")
    assert not is_ours(tmp_path / "theirs.ckpt", "checkpoint")


@pytest.mark.parametrize("name", ["x.h5", "x.png", "x.nii.gz", "x.json", "x.csv", "x.ckpt"])
def test_unreadable_or_unmarked_files_prove_nothing(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(b"\x89PNG\r\n\x1a\n" if name.endswith(".png") else b"not what it says")
    assert read_kind(path) is None
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(b"\x5c\x01" + b"\0" * 400))  # a header without the mark
        assert read_kind(path) is None
    assert read_kind(tmp_path) is None  # a folder
