"""``mri-recon import-weights`` through the real CLI: fastMRI's weights become a self-describing
checkpoint that reconstruct, evaluate, validate and ``fit --model.pretrained`` take as they are;
every bad input is a one-line error and nothing is written."""

from pathlib import Path

import numpy as np
import pytest
import torch
from fastmri.models import Unet as FastMriUnet
from fastmri.models import VarNet as FastMriVarNet

from mri_recon.data.marks import read_kind
from mri_recon.models.checkpoint import load_checkpoint
from mri_recon.training.cli import cli_main
from tests.helpers import error_line, fit_args, read_volume, run_main

VARNET = dict(num_cascades=2, sens_chans=4, sens_pools=2, chans=4, pools=2)


@pytest.fixture
def varnet_weights(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "knee_leaderboard_state_dict.pt"
    torch.save(FastMriVarNet(**VARNET).state_dict(), path)
    return path


def import_weights(capsys, weights: Path, output: Path, *args: str) -> tuple[int, str, str]:
    return run_main(capsys, "import-weights", weights, "--output", output, *args)


def test_imported_checkpoint_reconstructs_like_the_weights_and_validates(
    varnet_weights: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    new = tmp_path / "varnet_knee.ckpt"
    settings = ("--config", "varnet_knee_multicoil", "--accelerations", "4", "8")
    code, stdout, err = import_weights(capsys, varnet_weights, new, *settings)
    assert code == 0 and stdout.strip() == f"wrote {new}", err
    assert read_kind(new) == "checkpoint"
    loaded = load_checkpoint(new)
    assert not loaded.published and loaded.net_name == "VarNet"
    assert {k: loaded.net.config()[k] for k in VARNET} == VARNET
    assert loaded.data == {"challenge": "multicoil", "mask_type": "random",
                           "center_fractions": [0.08, 0.04], "accelerations": [4, 8]}  # fmt: skip
    data = small_multicoil / "multicoil_val"
    outputs = {}
    direct = ("--checkpoint", varnet_weights, *settings)
    runs = {"imported": ("--checkpoint", new), "direct": direct}
    for name, args in runs.items():
        out = tmp_path / name
        code, _, err = run_main(capsys, "reconstruct", "--data-path", data, "--output-path", out,
                                "--precision", "32", *args)  # fmt: skip
        assert code == 0, err
        outputs[name] = {f.name: read_volume(f) for f in sorted(out.glob("*.h5"))}
    assert outputs["imported"].keys() == outputs["direct"].keys()
    for name, volume in outputs["imported"].items():
        assert np.array_equal(volume, outputs["direct"][name])
    validate = fit_args("varnet_knee_multicoil", small_multicoil, tmp_path / "v")
    validate[0] = "validate"
    code, stdout, err = run_main(capsys, *validate, "--ckpt_path", new)
    assert code == 0, err
    assert "using the network" in stdout and "val/ssim" in stdout


def test_fit_starts_from_an_imported_checkpoint(
    small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    torch.manual_seed(1)
    reference = FastMriUnet(1, 1, chans=4, num_pool_layers=4).eval()
    weights, new = tmp_path / "unet.pt", tmp_path / "unet.ckpt"
    torch.save(reference.state_dict(), weights)
    code, _, err = import_weights(capsys, weights, new, "--config", "unet_brain_multicoil")
    assert code == 0, err
    args = fit_args("demo", small_multicoil, tmp_path, "--model.net.init_args.chans", "4",
                    "--model.pretrained", str(new))  # fmt: skip
    cli = cli_main(args[1:], run=False)
    image = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(cli.model.net.eval()(image), reference(image))


def test_bad_inputs_are_one_line_errors_and_write_nothing(
    varnet_weights: Path, tiny_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    new = tmp_path / "new.ckpt"
    notes = tmp_path / "notes.ckpt"
    notes.write_text("my notes\n")
    nan = tmp_path / "nan.pt"
    state = FastMriVarNet(**VARNET).state_dict()
    state["cascades.1.dc_weight"] = torch.tensor([float("nan")])
    torch.save(state, nan)
    cases = [
        ((varnet_weights, new), f"config: {varnet_weights} records no challenge or masks; give "
         "--config RECIPE"),
        ((varnet_weights, new, "--config", "unet_knee_singlecoil"),
         "config unet_knee_singlecoil: a recipe for the U-Net"),
        ((tiny_checkpoint, new, "--config", "demo"),
         f"checkpoint {tiny_checkpoint}: already an mri-recon checkpoint"),
        ((nan, new, "--config", "varnet_knee_multicoil"),
         f"checkpoint {nan}: weight cascades.1.dc_weight holds NaN or infinite values"),
        ((tmp_path / "missing.pt", new, "--config", "demo"), "no such file"),
        ((varnet_weights, notes, "--config", "varnet_knee_multicoil", "--overwrite"),
         f"output: {notes} was not written by mri-recon as a checkpoint"),
    ]  # fmt: skip
    for (weights, output, *args), message in cases:
        code, stdout, err = import_weights(capsys, weights, output, *args)
        line = error_line(err, "import-weights")
        assert code == 2 and stdout == "" and message in line, line
        assert not new.exists() and notes.read_text() == "my notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [varnet_weights.name, "notes.ckpt", "nan.pt"]
    )
    code, _, _ = import_weights(capsys, varnet_weights, new, "--config", "varnet_knee_multicoil")
    assert code == 0
    code, _, err = import_weights(capsys, varnet_weights, new, "--config", "varnet_knee_multicoil")
    assert code == 2 and "already exists (pass --overwrite to replace it)" in err
    code, _, err = import_weights(capsys, varnet_weights, new, "--config",
                                  "varnet_brain_multicoil", "--overwrite")  # fmt: skip
    assert code == 0 and load_checkpoint(new).data["mask_type"] == "equispaced_fraction"
