"""``mri-recon evaluate`` end to end: folders of ``reconstruct`` output against fastmri's
``evaluate``, and ``--checkpoint`` against the zero-filled baseline computed by hand."""

import io
import json
import re
import subprocess
import sys
from argparse import Namespace
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from fastmri import evaluate as fm_evaluate
from fastmri.data.subsample import RandomMaskFunc
from PIL import Image

from mri_recon.cli import main
from tests.helpers import (
    copy_folder,
    error_line,
    read_csv,
    read_volume,
    run_main,
    zero_filled_by_fastmri,
)

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "evaluate.py"
CENTER_FRACTIONS = {4: 0.08, 8: 0.04}
METRICS = ("nmse", "psnr", "ssim")


def scalar(value) -> float:
    """fastmri returns NumPy scalars and, for SSIM, a one-element array."""
    return float(np.asarray(value).item())


def fastmri_metrics(target: np.ndarray, image: np.ndarray) -> dict[str, float]:
    return {
        "nmse": scalar(fm_evaluate.nmse(target, image)),
        "psnr": scalar(fm_evaluate.psnr(target, image)),
        "ssim": scalar(fm_evaluate.ssim(target, image)),
    }


def run_quietly(*args: str | Path) -> tuple[int, str]:
    """``mri-recon <args>`` in this process, for module-scoped fixtures (no capsys there)."""
    stdout = io.StringIO()
    with redirect_stdout(stdout):
        code = main([str(arg) for arg in args])
    return code, stdout.getvalue()


@pytest.fixture(scope="module")
def predictions(tiny_checkpoint: Path, small_multicoil: Path, tmp_path_factory) -> Path:
    """The test split reconstructed by the tiny checkpoint."""
    out = tmp_path_factory.mktemp("predictions") / "out"
    data = small_multicoil / "multicoil_test"
    code, _ = run_quietly(
        "reconstruct", "--checkpoint", tiny_checkpoint, "--data-path", data, "--output-path", out
    )
    assert code == 0
    return out


def test_folders_match_fastmri_evaluate(
    predictions: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    truth = small_multicoil / "multicoil_test_truth"
    names = sorted(p.name for p in truth.glob("*.h5"))
    report_json, report_csv = tmp_path / "report.json", tmp_path / "report.csv"
    folders = ("evaluate", "--target-path", truth, "--predictions-path", predictions)
    code, stdout, _ = run_main(capsys, *folders, "--output", report_json)
    assert code == 0 and f"wrote {report_json}" in stdout
    assert all(name in stdout for name in names)
    report = json.loads(report_json.read_text())
    assert [v["fname"] for v in report["volumes"]] == names
    assert report["problems"] == report["failures"] == []

    args = Namespace(
        target_path=truth, predictions_path=predictions, acquisition=None, acceleration=None
    )
    oracle = fm_evaluate.evaluate(args, "reconstruction_rss")
    means, stds = oracle.means(), oracle.stddevs()
    assert report["summary"]["all"]["count"] == 2
    summary = report["summary"]["all"]["prediction"]
    for metric in METRICS:
        assert summary[f"{metric}_mean"] == pytest.approx(scalar(means[metric.upper()]), rel=1e-6)
        assert summary[f"{metric}_std"] == pytest.approx(scalar(stds[metric.upper()]), rel=1e-6)

    assert run_main(capsys, *folders, "--output", report_csv)[0] == 0
    rows = read_csv(report_csv, "report")
    assert [r["fname"] for r in rows if r["row"] == "volume"] == names
    (mean_all,) = [r for r in rows if r["row"] == "mean" and r["group"] == "all"]
    for metric in METRICS:
        assert float(mean_all[metric]) == pytest.approx(summary[f"{metric}_mean"], rel=1e-12)


def test_missing_prediction_is_reported_by_name_and_fails_the_run(
    predictions: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    partial = copy_folder(predictions, tmp_path / "partial")
    kept, missing = sorted(p.name for p in partial.glob("*.h5"))
    (partial / missing).unlink()
    truth = small_multicoil / "multicoil_test_truth"
    report_path = tmp_path / "report.json"
    code, stdout, _ = run_main(
        capsys, "evaluate", "--target-path", truth, "--predictions-path", partial,
        "--output", report_path,
    )  # fmt: skip
    assert code == 1  # the report of what was scored is still printed and written
    assert "failed 1:" in stdout and f"  {missing}: no prediction file" in stdout
    report = json.loads(report_path.read_text())
    assert [v["fname"] for v in report["volumes"]] == [kept]
    assert len(report["failures"]) == 1 and report["failures"][0].startswith(f"{missing}: ")


def test_existing_report_is_kept_without_overwrite(
    predictions: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    report_path = tmp_path / "report.json"
    folders = (
        "evaluate", "--target-path", small_multicoil / "multicoil_test_truth",
        "--predictions-path", predictions, "--output", report_path,
    )  # fmt: skip
    assert run_main(capsys, *folders)[0] == 0
    kept = report_path.read_text()
    code, _, err = run_main(capsys, *folders)
    assert code == 2 and f"{report_path} already exists" in error_line(err, "evaluate")
    assert report_path.read_text() == kept
    assert run_main(capsys, *folders, "--overwrite")[0] == 0
    assert json.loads(report_path.read_text())["summary"]["all"]["count"] == 2


@pytest.fixture(scope="module")
def checkpoint_run(tiny_checkpoint: Path, small_multicoil: Path, tmp_path_factory) -> dict:
    """``evaluate --checkpoint`` at 4x and 8x on the val split plus one test file."""
    root = tmp_path_factory.mktemp("checkpoint_run")
    (test_file, *_) = sorted((small_multicoil / "multicoil_test").glob("*.h5"))
    data = copy_folder(small_multicoil / "multicoil_val", root / "data", test_file)
    code, stdout = run_quietly(
        "evaluate", "--checkpoint", tiny_checkpoint, "--data-path", data, "--accelerations", "4",
        "8", "--figures", root / "figures", "--output", root / "report.json",
    )  # fmt: skip
    assert code == 0
    return {
        "data": data,
        "val_names": sorted(p.name for p in (small_multicoil / "multicoil_val").glob("*.h5")),
        "test_name": test_file.name,
        "stdout": stdout,
        "report": json.loads((root / "report.json").read_text()),
        "figures": root / "figures",
    }


def test_checkpoint_rows_for_each_volume_and_acceleration(checkpoint_run: dict) -> None:
    report, stdout = checkpoint_run["report"], checkpoint_run["stdout"]
    rows = {(row["fname"], row["acceleration"]) for row in report["volumes"]}
    assert rows == {(name, a) for name in checkpoint_run["val_names"] for a in (4, 8)}
    assert len(report["volumes"]) == 4
    assert sorted(report["summary"]) == ["4x", "8x"]
    assert all(group["count"] == 2 for group in report["summary"].values())
    for label in (r"4x +zero-filled", r"4x +U-Net", r"8x +zero-filled", r"8x +U-Net"):
        assert re.search(label, stdout)
    assert "wrote " in stdout and "report.json" in stdout


def test_checkpoint_zero_filled_rows_match_fastmri_by_hand(checkpoint_run: dict) -> None:
    data = checkpoint_run["data"]
    for row in checkpoint_run["report"]["volumes"]:
        acceleration = row["acceleration"]
        mask_func = RandomMaskFunc([CENTER_FRACTIONS[acceleration]], [acceleration])
        zero_filled = zero_filled_by_fastmri(data / row["fname"], mask_func)
        target = read_volume(data / row["fname"], "reconstruction_rss")
        expected = fastmri_metrics(target, zero_filled)
        for metric in METRICS:
            assert row["scores"]["zero-filled"][metric] == pytest.approx(expected[metric], rel=1e-5)


@pytest.mark.parametrize("acceleration", [4, 8])
def test_checkpoint_model_rows_match_reconstruct_output(
    acceleration: int, checkpoint_run: dict, tiny_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    data, out = checkpoint_run["data"], tmp_path / "out"
    code, _, _ = run_main(
        capsys, "reconstruct", "--checkpoint", tiny_checkpoint, "--data-path", data,
        "--output-path", out, "--accelerations", str(acceleration),
    )  # fmt: skip
    assert code == 0
    rows = [r for r in checkpoint_run["report"]["volumes"] if r["acceleration"] == acceleration]
    for row in rows:
        target = read_volume(data / row["fname"], "reconstruction_rss")
        expected = fastmri_metrics(target, read_volume(out / row["fname"]))
        for metric in METRICS:
            assert row["scores"]["U-Net"][metric] == pytest.approx(expected[metric], rel=1e-5)


def test_checkpoint_figures_and_problems(checkpoint_run: dict) -> None:
    stems = [Path(name).stem for name in checkpoint_run["val_names"]]
    figures = checkpoint_run["figures"]
    expected = sorted(f"{stem}_{a}x.png" for stem in stems for a in (4, 8))
    assert sorted(p.name for p in figures.iterdir()) == expected
    for name in expected:
        with Image.open(figures / name) as png:
            assert png.format == "PNG" and png.size[0] > png.size[1] > 0
    test_name = checkpoint_run["test_name"]
    (problem,) = checkpoint_run["report"]["problems"]
    assert problem.startswith(f"{test_name}: no target")
    assert "skipped 1:" in checkpoint_run["stdout"] and test_name in checkpoint_run["stdout"]


def test_checkpoint_figures_inside_the_data_folder_are_refused(
    tiny_checkpoint: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    data = copy_folder(small_multicoil / "multicoil_val", tmp_path / "data")
    code, stdout, err = run_main(
        capsys, "evaluate", "--checkpoint", tiny_checkpoint, "--data-path", data,
        "--figures", data / "figures",
    )  # fmt: skip
    assert code == 2 and stdout == ""
    line = error_line(err, "evaluate")
    assert line.endswith(f"error: figures: {data / 'figures'} is inside the input folder {data}")
    assert not (data / "figures").exists()


def test_checkpoint_on_test_files_only_is_an_error(
    tiny_checkpoint: Path, small_multicoil: Path, capsys
) -> None:
    data = small_multicoil / "multicoil_test"
    code, _, err = run_main(
        capsys, "evaluate", "--checkpoint", tiny_checkpoint, "--data-path", data
    )
    assert code == 2
    assert "holds no fully sampled file with a target" in error_line(err, "evaluate")


def test_script_runs_the_command(predictions: Path, small_multicoil: Path) -> None:
    truth = small_multicoil / "multicoil_test_truth"
    command = [sys.executable, str(SCRIPT), "--target-path", str(truth)]
    result = subprocess.run(
        [*command, "--predictions-path", str(predictions)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert all(p.name in result.stdout for p in truth.glob("*.h5"))
    assert "all " in result.stdout


def test_an_existing_report_is_refused_before_any_work(tmp_path: Path, small_multicoil: Path):
    report = tmp_path / "report.json"
    report.write_text("{}")
    truth = small_multicoil / "multicoil_test_truth"
    code = main(["evaluate", "--target-path", str(truth), "--predictions-path", str(tmp_path),
                 "--output", str(report)])  # fmt: skip
    assert code == 2 and report.read_text() == "{}"
    inside = truth / "report.json"
    assert main(["evaluate", "--target-path", str(truth), "--predictions-path", str(tmp_path),
                 "--output", str(inside)]) == 2  # fmt: skip
    assert not inside.exists()
