"""``mri-recon demo`` end to end, on a small dataset and a one-epoch training (the real steps)."""

import json
from dataclasses import replace
from pathlib import Path

import h5py
import pytest
from PIL import Image

from mri_recon.commands.demo import run_demo, summary_text
from tests.conftest import SMALL_MULTICOIL

SHRINK = ("--model.net.init_args.chans", "4", "--trainer.max_epochs", "1",
          "--data.num_workers", "0", "--trainer.enable_progress_bar", "false")  # fmt: skip


@pytest.mark.slow
def test_demo_writes_everything_and_reuses_a_finished_run(tmp_path: Path):
    config = replace(SMALL_MULTICOIL, num_volumes=8, val_fraction=0.25, test_fraction=0.25)
    result = run_demo(tmp_path / "out", data_config=config, fit_overrides=SHRINK)
    out = tmp_path / "out"
    assert (out / "checkpoints" / "last.ckpt").is_file() and result.checkpoint.is_file()
    assert result.checkpoint.name.startswith("epoch000-ssim")  # the best, not last.ckpt
    test_files = sorted(p.name for p in (out / "data" / "multicoil_test").glob("*.h5"))
    assert sorted(p.name for p in result.reconstructions.glob("*.h5")) == test_files
    with h5py.File(result.reconstructions / test_files[0], "r") as hf:
        assert hf["reconstruction"].shape == (3, 32, 32)
    report = json.loads((out / "report.json").read_text())
    assert sorted(v["fname"] for v in report["volumes"]) == test_files
    assert set(report["summary"]) == {"4x", "8x"}
    for volume in report["volumes"]:
        scores = volume["scores"]
        assert 0 < scores["zero-filled"]["ssim"] < 1 and 0 < scores["U-Net"]["ssim"] <= 1
    figures = sorted(result.figures.glob("*.png"))
    assert len(figures) == len(test_files) and Image.open(figures[0]).size[0] > 4 * 32
    text = summary_text(result)
    assert "zero-filled" in text and "U-Net" in text and "8x" in text
    stamp = (out / "checkpoints" / "last.ckpt").stat().st_mtime_ns
    again = run_demo(out, data_config=config, fit_overrides=SHRINK)
    assert (out / "checkpoints" / "last.ckpt").stat().st_mtime_ns == stamp  # not retrained
    assert again.report.volumes == result.report.volumes
