"""``mri-recon study ...`` end to end on tiny simulated data, through the real CLI entry: the files
and keys each study writes, the numbers its lesson rests on, its errors."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from mri_recon.data.marks import read_kind
from tests.helpers import error_line, read_csv, run_main

MAX_PNG_BYTES = 200_000
UNET = {"num_pool_layers", "num_groups", "conv_impl", "norm_impl"}  # in every network's settings


def read_json(path: Path) -> dict:
    content = json.loads(path.read_text())
    assert next(iter(content)) == "written_by" and content["written_by"].endswith("(study)")
    return content


def assert_pngs(folder: Path, *names: str) -> None:
    for name in names:
        path = folder / name
        assert path.stat().st_size < MAX_PNG_BYTES, name
        assert read_kind(path) == "study", name  # marked as a study's output
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
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["convolution.txt", "convolution.json", "convolution_widths.csv", "convolution.png"]
    )
    content = read_json(out / "convolution.json")
    assert set(content) == {"written_by", "study", "examples", "widths", "checks"}
    assert_all_passed(content["checks"])
    statements = " ".join(c["statement"] for c in content["checks"])
    assert "dL/dw, hand vs autograd" in statements and "forward, hand vs torch" in statements
    first = content["examples"][0]
    assert first["matrix"][1][:4] == [0.0, 1.0, 2.0, -1.0]  # the kernel, unflipped, shifted by one
    assert first["output"] == [2.5, 4.5, 6.5, 8.5, 10.5, 12.5]
    rows = read_csv(out / "convolution_widths.csv", "study")
    assert list(rows[0]) == [
        "layer", "input", "kernel", "stride", "padding", "dilation", "formula", "mri_recon", "torch"
    ]  # fmt: skip
    assert {row["layer"] for row in rows} == {"Conv1d", "Conv2d", "ConvTranspose2d"}
    assert all(row["formula"] == row["mri_recon"] == row["torch"] for row in rows)
    mark, text = (out / "convolution.txt").read_text().split("\n", 1)
    assert mark.startswith("# mri-recon ") and mark.endswith("(study)")
    assert "cross-correlation" in text and text in stdout
    assert_pngs(out, "convolution.png")


@pytest.mark.slow
def test_step_size_study(small_multicoil: Path, tmp_path: Path, capsys):
    out = tmp_path / "step"
    extra = ("--condition-number", "50", "--dim", "12")
    stdout = run_quick(capsys, "step-size", small_multicoil, out, *extra)
    content = read_json(out / "step_size.json")
    assert set(content) == {"written_by", "study", "settings", "quadratic", "checks", "network"}
    assert UNET <= set(content["settings"]["network"])
    assert_all_passed(content["checks"])
    statements = [c["statement"] for c in content["checks"]]
    assert "lr = 2/L * (1 + 0.001) is diverging" in statements
    assert "lr = 1/L is monotone" in statements
    assert not any("best rate" in statement for statement in statements)  # it could not fail
    quadratic = content["quadratic"]
    assert quadratic["largest_eigenvalue"] / quadratic["smallest_eigenvalue"] == pytest.approx(50)
    assert quadratic["two_over_L"] == pytest.approx(2 / quadratic["largest_eigenvalue"])
    assert set(quadratic["momentum_rules"]) == {
        "pytorch, constant", "pytorch, changed", "sutskever, constant", "sutskever, changed"
    }  # fmt: skip
    rates = read_csv(out / "step_size_rates.csv", "study")
    assert {row["method"] for row in rates} == {"gd", "momentum", "nesterov"}
    for row in rates:  # theory's setting is among the candidates: the best is never slower
        assert float(row["best_rate"]) <= float(row["rate_at_theory_setting"])
        assert row["best_from"] in ("grid", "theory")
    line = content["network"]
    assert line["weights"].startswith("no checkpoint given: a U-Net")
    assert line["curvature"] > 0 and line["sharpness"] != 0
    assert all(math.isfinite(value) for value in line["losses"])
    at_weights = min(range(len(line["lrs"])), key=lambda i: abs(line["lrs"][i]))
    assert abs(line["lrs"][at_weights]) < 1e-9  # the line passes through the weights
    assert line["losses"][at_weights] == pytest.approx(line["loss"], rel=1e-6)
    points = line["points"]  # measured at several points of the brief training
    assert len(points) == 4 and points[-1]["samples"] == line["samples"]
    assert [p["samples"] for p in points] == sorted({p["samples"] for p in points})
    assert all(p["sharpness"] is None for p in points[:-1])  # power iteration at the last only
    for p in points:
        if p["measured_min"] is not None:  # a vertex inside the range, never an end point
            assert p["lrs"][0] < p["measured_min"] < p["lrs"][-1]
    assert "2/L" in stdout and "largest magnitude" in stdout
    assert_pngs(out, "step_size_quadratic.png", "step_size_network.png")


@pytest.mark.slow
def test_step_size_study_through_a_checkpoint(
    small_multicoil: Path, tiny_checkpoint: Path, tmp_path: Path, capsys
):
    out = tmp_path / "step"
    run_quick(capsys, "step-size", small_multicoil, out, "--checkpoint", tiny_checkpoint)
    line = read_json(out / "step_size.json")["network"]
    assert line["weights"].startswith(f"checkpoint {tiny_checkpoint}")
    assert len(line["points"]) == 1 and line["samples"] is None and line["sharpness"] is not None


@pytest.mark.slow
def test_optimizer_study(small_multicoil: Path, tmp_path: Path, capsys):
    out = tmp_path / "opt"
    stdout = run_quick(capsys, "optimizers", small_multicoil, out, "--chans", "4")
    content = read_json(out / "optimizers.json")
    keys = {"written_by", "study", "data", "settings", "initial_train_loss", "zero_filled"}
    assert set(content) == keys | {"gradient_noise", "checks", "runs", "curves"}
    assert UNET <= set(content["settings"]) and set(content["zero_filled"]) == {"val", "train_l1"}
    assert_all_passed(content["checks"])  # the minibatch gradient is unbiased
    noise = content["gradient_noise"]["start"]
    assert noise["minibatch_variance"] > 0 and 0 < noise["lr_factor"] < 1
    assert noise["lr_factor"] == pytest.approx(1 / (1 + noise["noise_to_signal"]))
    runs = content["runs"]
    methods = {run["method"] for run in runs}
    assert methods == {"gd", "sgd", "momentum", "sutskever", "nesterov", "rmsprop", "adam"}
    budget = {run["samples"] for run in runs if not run["diverged"]}
    assert len(budget) == 1  # every finished run spent the same gradient evaluations
    gd, sgd = (next(r for r in runs if r["method"] == name) for name in ("gd", "sgd"))
    assert gd["steps"] * 8 == sgd["steps"] * 4 == gd["samples"]  # full batches of 8, minibatches
    for method in methods:
        assert sum(r["best"] for r in runs if r["method"] == method) <= 1
    for run in runs:  # one measure for all: the whole training set's loss, every epoch
        curve = content["curves"][f"{run['method']} lr={run['lr']:g}"]
        assert curve["eval_samples"] == [0, 8, 16] and curve["eval_loss"][0] == pytest.approx(
            content["initial_train_loss"]
        )
        assert curve["eval_loss"][-1] == pytest.approx(run["train_loss"], rel=1e-6)
    csv_rows = read_csv(out / "optimizers.csv", "study")
    assert len(csv_rows) == len(runs) and list(csv_rows[0]) == [
        "method", "lr", "best", "steps", "samples", "wall_s", "diverged", "train_loss",
        "val_ssim", "val_psnr", "val_nmse", "val_l1",
    ]  # fmt: skip
    assert "momentum" in stdout and "noise/signal" in stdout
    assert_pngs(out, "optimizers.png")


@pytest.mark.slow
def test_normalization_study(small_multicoil: Path, tmp_path: Path, capsys):
    out = tmp_path / "norm"
    run_quick(capsys, "normalization", small_multicoil, out, "--chans", "4")
    content = read_json(out / "normalization.json")
    keys = {"written_by", "study", "data", "settings", "zero_filled", "checks", "runs", "curves"}
    assert set(content) == keys | {"val_target_max", "lr_sweep"}
    assert UNET <= set(content["settings"])
    assert_all_passed(content["checks"])  # batch norm of one image trains as instance norm
    runs = {run["variant"]: run for run in content["runs"]}
    assert {r["norm"] for r in runs.values()} == {"none", "batch", "instance", "group", "layer"}
    assert runs["batch-b1"]["batch_size"] == 1 and not runs["instance-raw"]["input_normalized"]
    assert runs["batch-b1"]["steps"] == 8 * runs["batch"]["steps"]  # same budget, 8x the steps
    for run in runs.values():
        assert 0 < run["val_ssim"] <= 1 and math.isfinite(run["val_psnr"])
        # each slice's brightness fitted by least squares can only lower the squared error
        assert run["val_psnr_fitted"] >= run["val_psnr"] - 1e-6
    curves = content["curves"]["instance"]
    assert len(curves["grad_norm"]) == runs["instance"]["steps"] and curves["val"]
    sweep = content["lr_sweep"]
    seeds = {(r["norm"], r["lr"]): set() for r in sweep["runs"]}
    for r in sweep["runs"]:
        seeds[r["norm"], r["lr"]].add(r["seed"])
    assert len(seeds) == 5 * 2 and all(len(s) >= 3 for s in seeds.values())
    for row in sweep["spread"]:
        if row["finished"]:
            assert row["min"] <= row["mean"] <= row["max"]
    low, high = content["val_target_max"]["min"], content["val_target_max"]["max"]
    assert 0 < low <= high
    assert "val_psnr_fitted" in read_csv(out / "normalization.csv", "study")[0]
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


def test_without_demo_data_the_error_says_how_to_build_it(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)  # no demo_output/data here, and none is built
    code, stdout, err = run_main(capsys, "study", "normalization", "--quick")
    line = error_line(err, "study")
    assert code == 2 and stdout == "" and "--data-path" in line
    assert "mri-recon demo" in line and "python -m data_prep demo" in line
    assert list(tmp_path.iterdir()) == []


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


def test_no_module_of_the_package_imports_data_prep_but_the_demo_command():
    root = Path(__file__).parents[2] / "mri_recon"
    importers = {
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "from data_prep" in path.read_text() or "import data_prep" in path.read_text()
    }
    assert importers == {"commands/demo.py"}
