"""evaluate_folders against fastmri.evaluate on real HDF5 files; failures; JSON/CSV reports."""

import json
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import h5py
import numpy as np
import pytest
from fastmri import evaluate as fm_evaluate
from fastmri.data.transforms import center_crop

from mri_recon.data.io import ForeignFileError
from mri_recon.data.marks import writer_mark
from mri_recon.evaluation import PREDICTION, evaluate_folders, square_crop
from mri_recon.report import Report, VolumeScores, format_report, write_report
from tests.helpers import read_csv

TARGET_SHAPE = (3, 41, 32)  # taller than wide: fastmri crops the rows to a 32x32 square
PRED_SHAPE = (3, 45, 37)  # odd margins: checks the crop offsets


def write_target(
    folder: Path, name: str, acquisition: str, seed: int, challenge: str = "multicoil"
) -> np.ndarray:
    """A target file as fastMRI stores it; returns the volume stored under the challenge's key."""
    rng = np.random.default_rng(seed)
    rss = rng.uniform(0.0, 1e-4, TARGET_SHAPE).astype(np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    with h5py.File(folder / name, "w") as hf:
        hf.create_dataset("reconstruction_rss", data=rss)
        target = rss
        if challenge == "singlecoil":
            target = (0.8 * rss).astype(np.float32)
            hf.create_dataset("reconstruction_esc", data=target)
        hf.attrs["acquisition"] = acquisition
        hf.attrs["max"] = float(target.max())
    return target


def write_prediction(
    folder: Path, name: str, target: np.ndarray, seed: int, shape: tuple[int, ...] = PRED_SHAPE
) -> None:
    """A noisy reconstruction of ``target`` zero-padded to ``shape`` around its centre."""
    rng = np.random.default_rng(100 + seed)
    pred = np.zeros(shape, dtype=np.float32)
    top, left = (shape[-2] - target.shape[-2]) // 2, (shape[-1] - target.shape[-1]) // 2
    noisy = target + 1e-5 * (1 + seed) * rng.standard_normal(target.shape)
    pred[..., top : top + target.shape[-2], left : left + target.shape[-1]] = noisy
    folder.mkdir(parents=True, exist_ok=True)
    with h5py.File(folder / name, "w") as hf:
        hf.create_dataset("reconstruction", data=pred)


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """Four multicoil volumes, two acquisitions, each with a prediction."""
    targets, preds = tmp_path / "targets", tmp_path / "preds"
    for seed, acq in enumerate(["AXT2", "AXFLAIR", "AXT2", "AXT2"]):
        name = f"file_brain_{seed}.h5"
        write_prediction(preds, name, write_target(targets, name, acq, seed), seed)
    return targets, preds


def fastmri_run(targets: Path, preds: Path, key: str, acquisition: str | None = None):
    args = Namespace(
        target_path=targets, predictions_path=preds, acquisition=acquisition, acceleration=None
    )
    return fm_evaluate.evaluate(args, key)


def scalar(value) -> float:
    """fastmri returns NumPy scalars and, for SSIM, a one-element array."""
    return float(np.asarray(value).item())


def group_stats(report: Report, group: str) -> dict:
    """The summary of one group: ``count`` and the prediction's ``{metric}_mean/_std``."""
    summary = report.summary()[group]
    return {"count": summary["count"], **summary[PREDICTION]}


def metrics(volume: VolumeScores) -> dict[str, float]:
    return volume.scores[PREDICTION]


@pytest.mark.parametrize("acquisition", [None, "AXT2"])
def test_matches_fastmri_evaluate(folders: tuple[Path, Path], acquisition: str | None) -> None:
    targets, preds = folders
    report = evaluate_folders(targets, preds, "multicoil", acquisition)
    oracle = fastmri_run(targets, preds, "reconstruction_rss", acquisition)
    means, stds = oracle.means(), oracle.stddevs()
    stats = group_stats(report, "all")
    assert stats["count"] == (4 if acquisition is None else 3) == len(report.volumes)
    for metric in ("nmse", "psnr", "ssim"):
        mean, std = scalar(means[metric.upper()]), scalar(stds[metric.upper()])
        assert stats[f"{metric}_mean"] == pytest.approx(mean, rel=1e-6)
        assert stats[f"{metric}_std"] == pytest.approx(std, rel=1e-6)
    assert report.problems == report.failures == []


def test_per_volume_numbers_match_fastmri_functions(folders: tuple[Path, Path]) -> None:
    targets, preds = folders
    report = evaluate_folders(targets, preds)
    assert [v.fname for v in report.volumes] == [f"file_brain_{i}.h5" for i in range(4)]
    for volume in report.volumes:
        with h5py.File(targets / volume.fname) as t, h5py.File(preds / volume.fname) as p:
            gt = center_crop(t["reconstruction_rss"][()], (32, 32))
            pred = center_crop(p["reconstruction"][()], (32, 32))
            assert volume.acquisition == t.attrs["acquisition"]
        got = metrics(volume)
        assert got["nmse"] == pytest.approx(float(fm_evaluate.nmse(gt, pred)), rel=1e-6)
        assert got["psnr"] == pytest.approx(float(fm_evaluate.psnr(gt, pred)), rel=1e-6)
        assert got["ssim"] == pytest.approx(float(fm_evaluate.ssim(gt, pred)[0]), rel=1e-6)


def test_square_crop_matches_fastmri_center_crop() -> None:
    volume = np.arange(2 * 45 * 37).reshape(2, 45, 37)
    for side in (32, 36, 37):
        np.testing.assert_array_equal(square_crop(volume, side), center_crop(volume, (side, side)))
    with pytest.raises(ValueError, match="cannot crop 45x37 to 38x38"):
        square_crop(volume, 38)


def test_summary_per_acquisition(folders: tuple[Path, Path]) -> None:
    report = evaluate_folders(*folders)
    assert list(report.summary()) == ["AXFLAIR", "AXT2", "all"]
    assert group_stats(report, "AXFLAIR")["count"] == 1
    assert group_stats(report, "AXFLAIR")["ssim_std"] == 0.0
    axt2 = [metrics(v)["psnr"] for v in report.volumes if v.acquisition == "AXT2"]
    assert group_stats(report, "AXT2")["psnr_mean"] == pytest.approx(np.mean(axt2))
    assert group_stats(report, "AXT2")["psnr_std"] == pytest.approx(np.std(axt2, ddof=1))
    only_flair = evaluate_folders(*folders, acquisition="AXFLAIR")
    assert [v.fname for v in only_flair.volumes] == ["file_brain_1.h5"]


def test_singlecoil_uses_esc_and_matches_fastmri(tmp_path: Path) -> None:
    targets, preds = tmp_path / "t", tmp_path / "p"
    for seed in range(2):
        name = f"file{seed}.h5"
        target = write_target(targets, name, "CORPD_FBK", seed, challenge="singlecoil")
        write_prediction(preds, name, target, seed)
    inferred = evaluate_folders(targets, preds)
    explicit = evaluate_folders(targets, preds, "singlecoil")
    rss = evaluate_folders(targets, preds, "multicoil")
    assert inferred.volumes == explicit.volumes
    with h5py.File(targets / "file0.h5") as t, h5py.File(preds / "file0.h5") as p:
        esc = center_crop(t["reconstruction_esc"][()], (32, 32))
        pred = center_crop(p["reconstruction"][()], (32, 32))
    assert metrics(explicit.volumes[0])["nmse"] == pytest.approx(float(fm_evaluate.nmse(esc, pred)))
    assert metrics(rss.volumes[0])["nmse"] > metrics(explicit.volumes[0])["nmse"] + 0.01
    oracle = fastmri_run(targets, preds, "reconstruction_esc").means()
    ssim_mean = group_stats(explicit, "all")["ssim_mean"]
    assert ssim_mean == pytest.approx(scalar(oracle["SSIM"]), rel=1e-6)


def test_failures_are_reported_by_name(folders: tuple[Path, Path]) -> None:
    targets, preds = folders
    (preds / "file_brain_0.h5").unlink()
    with h5py.File(preds / "file_brain_1.h5", "w") as hf:
        hf.create_dataset("recon", data=np.zeros(PRED_SHAPE, np.float32))
    target = write_target(targets, "file_brain_2.h5", "AXT2", 2)
    write_prediction(preds, "file_brain_2.h5", target[:2], 2, shape=(2, *PRED_SHAPE[1:]))
    (targets / "broken.h5").write_bytes(b"not an HDF5 file")
    with h5py.File(targets / "no_target.h5", "w") as hf:
        hf.create_dataset("kspace", data=np.zeros((1, 4, 4), np.complex64))
    write_target(targets, "small.h5", "AXT2", 5)
    with h5py.File(preds / "small.h5", "w") as hf:
        hf.create_dataset("reconstruction", data=np.ones((3, 40, 31), np.float32))
    report = evaluate_folders(targets, preds)
    assert [v.fname for v in report.volumes] == ["file_brain_3.h5"]
    assert report.problems == []
    problems = dict(p.split(": ", 1) for p in report.failures)
    assert set(problems) == {
        "broken.h5",
        "file_brain_0.h5",
        "file_brain_1.h5",
        "file_brain_2.h5",
        "no_target.h5",
        "small.h5",
    }
    assert problems["broken.h5"].startswith("cannot read target")
    assert "no prediction file" in problems["file_brain_0.h5"]
    assert "'reconstruction'" in problems["file_brain_1.h5"]
    assert "same number of slices" in problems["file_brain_2.h5"]
    assert "neither 'reconstruction_esc' nor 'reconstruction_rss'" in problems["no_target.h5"]
    assert "smaller than the target's 32x32" in problems["small.h5"]
    singlecoil = evaluate_folders(targets, preds, "singlecoil", acquisition="AXFLAIR")
    assert singlecoil.failures[1:] == [
        "file_brain_1.h5: no 'reconstruction_esc' dataset (singlecoil target)"
    ]
    assert singlecoil.failures[0].startswith("broken.h5: cannot read target")


def test_bad_folders(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="target-path: .*missing"):
        evaluate_folders(tmp_path / "missing", tmp_path)
    with pytest.raises(ValueError, match=f"target-path: {tmp_path}: no"):
        evaluate_folders(tmp_path, tmp_path)
    with pytest.raises(ValueError, match="challenge must be one of"):
        evaluate_folders(tmp_path, tmp_path, challenge="dualcoil")


def test_json_and_csv_round_trip(folders: tuple[Path, Path], tmp_path: Path) -> None:
    targets, preds = folders
    (preds / "file_brain_3.h5").unlink()
    report = evaluate_folders(targets, preds)
    json_path = write_report(report, tmp_path / "out" / "report.json")
    assert json.loads(json_path.read_text()) == {"written_by": writer_mark("report")} | (
        report.to_dict()
    )
    csv_path = write_report(report, tmp_path / "out" / "report.csv")
    rows = read_csv(csv_path, "report")
    volume_rows = [r for r in rows if r["row"] == "volume"]
    assert [r["fname"] for r in volume_rows] == [v.fname for v in report.volumes]
    for row, volume in zip(volume_rows, report.volumes):
        assert row["acquisition"] == volume.acquisition and row["method"] == PREDICTION
        for metric in ("nmse", "psnr", "ssim"):
            assert float(row[metric]) == metrics(volume)[metric]
    for kind in ("mean", "std"):
        summary_rows = {r["group"]: r for r in rows if r["row"] == kind}
        assert set(summary_rows) == set(report.summary())
        for name in report.summary():
            stats = group_stats(report, name)
            assert int(summary_rows[name]["count"]) == stats["count"]
            assert float(summary_rows[name]["psnr"]) == stats[f"psnr_{kind}"]
    failure_rows = [r for r in rows if r["row"] == "failure"]
    assert [(r["fname"], r["problem"]) for r in failure_rows] == [
        ("file_brain_3.h5", report.failures[0].split(": ", 1)[1])
    ]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.csv", "report.json"]


def test_write_report_refuses_overwrite_and_bad_suffix(tmp_path: Path) -> None:
    report = Report(methods=[PREDICTION])
    report.add(VolumeScores("a.h5", "AXT2", {PREDICTION: {"nmse": 0.1, "psnr": 30.0, "ssim": 0.9}}))
    path = write_report(Report(methods=[PREDICTION]), tmp_path / "r.json")
    kept = path.read_text()
    with pytest.raises(FileExistsError, match="r.json"):
        write_report(report, path)
    assert path.read_text() == kept
    write_report(report, path, overwrite=True)
    assert json.loads(path.read_text())["summary"]["all"][PREDICTION]["psnr_mean"] == 30.0
    path.write_text("keep")  # no longer ours: never replaced
    with pytest.raises(ForeignFileError, match="r.json was not written by mri-recon as a report"):
        write_report(report, path, overwrite=True)
    assert path.read_text() == "keep"
    with pytest.raises(ValueError, match=r"r\.txt: report must end in \.json or \.csv"):
        write_report(report, tmp_path / "r.txt")
    assert not (tmp_path / "r.txt").exists()


def test_format_report(folders: tuple[Path, Path]) -> None:
    targets, preds = folders
    (preds / "file_brain_0.h5").unlink()
    report = evaluate_folders(targets, preds)
    text = format_report(report)
    lines = text.splitlines()
    volume_lines = lines[2:5]
    assert len({len(line) for line in lines[:5]}) == 1
    for line, volume in zip(volume_lines, report.volumes):
        assert line.startswith(volume.fname)
        assert f"{metrics(volume)['psnr']:.2f}" in line
    all_line = next(line for line in lines if line.startswith("all "))
    stats = group_stats(report, "all")
    assert f"{stats['ssim_mean']:.4f} +- {stats['ssim_std']:.4f}" in all_line
    assert lines[-1].strip().startswith("file_brain_0.h5: no prediction file")
    assert "no volumes evaluated" in format_report(Report(methods=[PREDICTION]))


def test_evaluate_does_not_import_lightning() -> None:
    code = (
        "import sys, mri_recon.evaluation; "
        "print(any(m.split('.')[0] in ('lightning', 'pytorch_lightning') for m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
