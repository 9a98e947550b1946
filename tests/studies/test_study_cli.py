"""``mri-recon study ...`` end to end on tiny simulated data, through the real CLI entry."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import error_line, read_csv, run_main

MAX_PNG_BYTES = 200_000


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def assert_pngs(folder: Path, *names: str) -> None:
    for name in names:
        path = folder / name
        assert path.stat().st_size < MAX_PNG_BYTES, name
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) > 200


def run_quick(capsys, study: str, data: Path, out: Path, *extra: str | Path) -> str:
    """``mri-recon study <study> --quick`` on ``data``; checks the exit status, returns stdout."""
    args = ("study", study, "--quick", "--data-path", data, "--output-dir", out, *extra)
    code, stdout, _ = run_main(capsys, *args)
    assert code == 0
    return stdout


def assert_all_passed(checks: list[dict]) -> None:
    assert checks, "no checks were made"
    failed = [c for c in checks if not c["passed"]]
    assert not failed, failed


def test_convolution_study(tmp_path: Path, capsys):
    out = tmp_path / "conv"
    code, stdout, _ = run_main(capsys, "study", "convolution", "--quick", "--output-dir", out)
    assert code == 0
    content = read_json(out / "convolution.json")
    assert_all_passed(content["checks"])
    statements = " ".join(c["statement"] for c in content["checks"])
    assert "gradcheck: conv_transpose2d" in statements and "dL/dw, hand vs autograd" in statements
    first = content["examples"][0]
    assert first["matrix"][1][:4] == [0.0, 1.0, 2.0, -1.0]  # the kernel shifted by one
    assert first["output"] == [2.5, 4.5, 6.5, 8.5, 10.5, 12.5]
    rows = read_csv(out / "convolution_widths.csv", "study")
    assert {row["layer"] for row in rows} == {"Conv1d", "Conv2d", "ConvTranspose2d"}
    assert all(row["formula"] == row["mri_recon"] == row["torch"] for row in rows)
    mark, text = (out / "convolution.txt").read_text().split("\n", 1)
    assert mark.startswith("# mri-recon ") and mark.endswith("(study)")
    assert "as a matrix" in stdout and text in stdout
    assert_pngs(out, "convolution.png")


@pytest.mark.slow
def test_step_size_study(small_multicoil: Path, tmp_path: Path, capsys):
    out = tmp_path / "step"
    extra = ("--condition-number", "50", "--dim", "12")
    stdout = run_quick(capsys, "step-size", small_multicoil, out, *extra)
    content = read_json(out / "step_size.json")
    assert_all_passed(content["checks"])
    statements = [c["statement"] for c in content["checks"]]
    assert "lr = 2/L * (1 + 0.001) is diverging" in statements
    assert "lr = 1/L is monotone" in statements
    quadratic = content["quadratic"]
    assert quadratic["largest_eigenvalue"] / quadratic["smallest_eigenvalue"] == pytest.approx(50)
    assert quadratic["two_over_L"] == pytest.approx(2 / quadratic["largest_eigenvalue"])
    rates = read_csv(out / "step_size_rates.csv", "study")
    assert {row["method"] for row in rates} == {"gd", "momentum", "sutskever", "nesterov"}
    line = content["network"]
    assert line["weights"].startswith("no checkpoint given: a U-Net")
    assert line["curvature"] > 0 and line["sharpness"] > 0
    assert all(math.isfinite(value) for value in line["losses"])
    at_weights = min(range(len(line["lrs"])), key=lambda i: abs(line["lrs"][i]))
    assert abs(line["lrs"][at_weights]) < 1e-9  # the line passes through the weights
    assert line["losses"][at_weights] == pytest.approx(line["loss"], rel=1e-6)
    assert "2/L" in stdout
    assert_pngs(out, "step_size_quadratic.png", "step_size_network.png")


@pytest.mark.slow
def test_step_size_study_through_a_checkpoint(
    small_multicoil: Path, tiny_checkpoint: Path, tmp_path: Path, capsys
):
    out = tmp_path / "step"
    run_quick(capsys, "step-size", small_multicoil, out, "--checkpoint", tiny_checkpoint)
    line = read_json(out / "step_size.json")["network"]
    assert line["weights"].startswith(f"checkpoint {tiny_checkpoint}")
    assert line["curvature"] > 0


@pytest.mark.slow
def test_optimizer_study(small_multicoil: Path, tmp_path: Path, capsys):
    out = tmp_path / "opt"
    stdout = run_quick(capsys, "optimizers", small_multicoil, out, "--chans", "4")
    content = read_json(out / "optimizers.json")
    assert_all_passed(content["checks"])  # each of ours equals torch.optim's twin
    checked = {c["statement"].rsplit(": ", 1)[1] for c in content["checks"]}
    assert checked == {"gd", "sgd", "momentum", "sutskever", "nesterov", "rmsprop", "adam"}
    runs = content["runs"]
    assert {run["method"] for run in runs} == checked
    budget = {run["samples"] for run in runs if not run["diverged"]}
    assert len(budget) == 1  # every finished run spent the same gradient evaluations
    gd, sgd = (next(r for r in runs if r["method"] == name) for name in ("gd", "sgd"))
    assert (
        gd["steps"] * 8 == sgd["steps"] * 4 == gd["samples"]
    )  # full batches of 8, minibatches of 4
    for method in checked:
        assert sum(r["best"] for r in runs if r["method"] == method) <= 1
    assert len(read_csv(out / "optimizers.csv", "study")) == len(runs)
    assert "momentum" in stdout
    assert_pngs(out, "optimizers.png")


@pytest.mark.slow
def test_normalization_study(small_multicoil: Path, tmp_path: Path, capsys):
    out = tmp_path / "norm"
    run_quick(capsys, "normalization", small_multicoil, out, "--chans", "4")
    content = read_json(out / "normalization.json")
    assert_all_passed(content["checks"])  # batch norm of one image trains as instance norm
    runs = {run["variant"]: run for run in content["runs"]}
    assert {r["norm"] for r in runs.values()} == {"none", "batch", "instance", "group", "layer"}
    assert runs["batch-b1"]["batch_size"] == 1 and not runs["instance-raw"]["input_normalized"]
    assert runs["batch-b1"]["steps"] == 8 * runs["batch"]["steps"]  # same budget, 8x the steps
    for run in runs.values():
        assert 0 < run["val_ssim"] <= 1 and math.isfinite(run["val_psnr"])
    curves = content["curves"]["instance"]
    assert len(curves["grad_norm"]) == runs["instance"]["steps"] and curves["val"]
    assert_pngs(out, "normalization.png")


def test_errors_are_one_line_and_write_nothing(small_multicoil: Path, tmp_path: Path, capsys):
    missing = tmp_path / "missing"
    code, _, err = run_main(
        capsys, "study", "optimizers", "--data-path", missing, "--output-dir", tmp_path / "o"
    )
    assert code == 2
    assert f"data-path: {missing} is not a folder" in error_line(err, "study")
    inside = small_multicoil / "studies"
    code, _, err = run_main(
        capsys, "study", "normalization", "--data-path", small_multicoil, "--output-dir", inside
    )
    assert code == 2 and "output-dir:" in error_line(err, "study") and not inside.exists()
    code, _, err = run_main(
        capsys, "study", "step-size", "--checkpoint", tmp_path / "none.ckpt",
        "--data-path", small_multicoil, "--output-dir", tmp_path / "s",
    )  # fmt: skip
    assert code == 2 and "checkpoint" in error_line(err, "study")
    assert not (tmp_path / "o").exists() and not (tmp_path / "s").exists()


@pytest.mark.slow
def test_earlier_results_are_kept_without_overwrite(tmp_path: Path, capsys):
    out = tmp_path / "conv"
    args = ("study", "convolution", "--quick", "--output-dir", out)
    assert run_main(capsys, *args)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code, _, err = run_main(capsys, *args)
    assert code == 2 and "--overwrite" in error_line(err, "study")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert run_main(capsys, *args, "--overwrite")[0] == 0
    assert read_json(out / "convolution.json")["study"] == "convolution"


def test_registering_the_command_imports_nothing_heavy():
    """``mri-recon study --help`` must stay fast: the command module loads no torch or plots."""
    code = (
        "import argparse, sys\n"
        "from mri_recon.commands import study\n"
        "study.register(argparse.ArgumentParser().add_subparsers())\n"
        "heavy = ('torch', 'numpy', 'matplotlib', 'h5py', 'fastmri', 'pytorch_lightning')\n"
        "print([name for name in heavy if name in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
