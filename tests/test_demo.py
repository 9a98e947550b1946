"""``mri-recon demo`` end to end, on a small dataset and a one-epoch training (the real steps)."""

import json
import re
from dataclasses import replace
from pathlib import Path

import h5py
import pytest
from PIL import Image

from mri_recon.commands.demo import DemoResult, float32_overrides, run_demo, summary_text
from tests.dicom_checks import read_series
from tests.helpers import SMALL_MULTICOIL, fit_args, run_cli

SHRINK = ("--model.net.init_args.chans", "4", "--trainer.max_epochs", "1",
          "--data.num_workers", "0", "--trainer.enable_progress_bar", "false")  # fmt: skip


VARNET_SHRINK = (*SHRINK, "--model.net.init_args.num_cascades", "2",
                 "--model.net.init_args.sens_chans", "4", "--model.net.init_args.pools", "2",
                 "--model.net.init_args.sens_pools", "2")  # fmt: skip
CONFIG = replace(SMALL_MULTICOIL, num_volumes=8, val_fraction=0.25, test_fraction=0.25)


@pytest.fixture(scope="module")
def unet_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoResult]:
    """The U-Net demo, shrunk, on a small dataset: its output folder and result."""
    out = tmp_path_factory.mktemp("demo") / "out"
    return out, run_demo(out, data_config=CONFIG, fit_overrides=SHRINK)


@pytest.mark.slow
@pytest.mark.precision
def test_demo_writes_everything_and_reuses_a_finished_run(unet_demo: tuple[Path, DemoResult]):
    out, result = unet_demo
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
    again = run_demo(out, data_config=CONFIG, fit_overrides=SHRINK)
    assert (out / "checkpoints" / "last.ckpt").stat().st_mtime_ns == stamp  # not retrained
    assert again.report.volumes == result.report.volumes


@pytest.mark.slow
def test_demo_dicom_writes_a_series_beside_each_reconstruction(
    unet_demo: tuple[Path, DemoResult],
):
    out, result = unet_demo
    again = run_demo(out, data_config=CONFIG, fit_overrides=SHRINK, dicom=True)  # not retrained
    outputs = sorted(again.reconstructions.glob("*.h5"))
    assert outputs and len(list(again.reconstructions.glob("*_dicom"))) == len(outputs)
    for output in outputs:
        images, restored = read_series(again.reconstructions / f"{output.stem}_dicom")
        with h5py.File(output, "r") as hf:
            reconstruction = hf["reconstruction"][()]
        assert abs(restored - reconstruction).max() <= 1e-4 * reconstruction.max()
        assert images[0].SeriesDescription == f"U-Net {result.checkpoint.name}"


@pytest.mark.slow
def test_varnet_demo_puts_zero_filled_cs_unet_and_varnet_side_by_side(
    unet_demo: tuple[Path, DemoResult],
):
    out, unet = unet_demo
    result = run_demo(out, data_config=CONFIG, fit_overrides=VARNET_SHRINK, model="varnet")
    assert result.checkpoint.parent == out / "varnet" / "checkpoints"
    test_files = sorted(p.name for p in (out / "data" / "multicoil_test").glob("*.h5"))
    assert result.reconstructions == out / "varnet" / "reconstructions"
    assert sorted(p.name for p in result.reconstructions.glob("*.h5")) == test_files
    report = json.loads(result.report_path.read_text())
    assert result.report_path == out / "varnet" / "report.json"
    for volume, unet_volume in zip(report["volumes"], unet.report.volumes):
        assert set(volume["scores"]) == {"zero-filled", "CS", "U-Net", "VarNet"}
        assert volume["scores"]["U-Net"] == unet_volume.scores["U-Net"]  # the U-Net demo's
    text = summary_text(result)
    assert all(re.search(rf"{a}x +{m}", text) for a in (4, 8) for m in ("U-Net", "VarNet"))
    (figure, *_) = sorted(result.figures.glob("*.png"))
    one_row = sorted(unet.figures.glob("*.png"))[0]
    with Image.open(figure) as three, Image.open(one_row) as one:
        # one row: zero-filled | CS | U-Net | VarNet | target | 3 error maps (8 panels), against
        # zero-filled | CS | U-Net | target | 2 error maps (6 panels)
        assert three.size[1] == one.size[1] and three.size[0] > 1.3 * one.size[0]


@pytest.mark.parametrize("fast_bf16", ["1", "0"])
def test_the_varnet_demo_trains_fewer_epochs_where_it_trains_in_float32(
    fast_bf16: str, monkeypatch: pytest.MonkeyPatch, small_multicoil: Path, tmp_path: Path
):
    """In float32 the VarNet demo's recipe would take 2.5x its minutes: the demo trains fewer
    epochs there, with the cosine decay over them; in bf16 the recipe as it is."""
    monkeypatch.setenv("MRI_RECON_FAST_BF16", fast_bf16)
    assert float32_overrides("demo") == []
    overrides = float32_overrides("varnet_demo")
    assert (overrides == []) == (fast_bf16 == "1")
    shrink = ("--model.net.init_args.num_cascades", "1", "--model.net.init_args.chans", "4",
              "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1",
              "--trainer.precision", "32-true")  # fmt: skip
    cli = run_cli(*fit_args("varnet_demo", small_multicoil, tmp_path, *overrides, *shrink))
    epochs = cli.trainer.max_epochs
    assert epochs == (20 if fast_bf16 == "1" else 8) and cli.trainer.current_epoch == epochs
    assert cli.trainer.lr_scheduler_configs[0].scheduler.T_max == epochs
