"""fastMRI's published weights through the real CLI: a ``fastmri.models.Unet`` / ``VarNet`` state
dict (random weights, several sizes, saved as fastMRI saves them) reconstructs in one command,
equal to fastmri's own model run on the same slices with fastMRI's own data transforms; what a
state dict cannot say comes from ``--config``, and its absence is a one-line error."""

from pathlib import Path

import fastmri.data.transforms as T
import numpy as np
import pytest
import torch
from fastmri.data import SliceDataset
from fastmri.data.subsample import create_mask_for_mask_type
from fastmri.models import Unet as FastMriUnet
from fastmri.models import VarNet as FastMriVarNet

from tests.helpers import error_line, read_volume, run_main

UNETS = [dict(chans=4, num_pool_layers=2), dict(chans=8, num_pool_layers=3)]
VARNETS = [dict(num_cascades=2, sens_chans=4, sens_pools=2, chans=4, pools=2),
           dict(num_cascades=1, sens_chans=2, sens_pools=1, chans=6, pools=3)]  # fmt: skip


def fastmri_volume(file: Path, model: torch.nn.Module, transform: object) -> np.ndarray:
    """``model`` over every slice of ``file`` with fastmri's reader and ``transform``, as
    fastMRI's pretrained-inference scripts run it (U-Net: ``* std + mean``; VarNet: cropped)."""
    dataset = SliceDataset(file.parent, "multicoil", transform=transform)
    dataset.raw_samples = [s for s in dataset.raw_samples if s.fname.name == file.name]
    slices = []
    with torch.no_grad():
        for sample in dataset:
            if isinstance(sample, T.UnetSample):
                output = model(sample.image[None, None])[0, 0] * sample.std + sample.mean
            else:
                output = model(sample.masked_kspace[None], sample.mask[None],
                               sample.num_low_frequencies)  # fmt: skip
                output = T.center_crop(output, sample.crop_size)[0]
            slices.append(output)
    return torch.stack(slices).numpy()


def reconstruct(capsys, data: Path, out: Path, *args: str | Path) -> tuple[int, str, str]:
    return run_main(capsys, "reconstruct", "--data-path", data, "--output-path", out,
                    "--precision", "32", *args)  # fmt: skip


def assert_equal_volumes(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())


@pytest.mark.parametrize("arch", UNETS)
def test_a_unet_state_dict_reconstructs_like_fastmri(
    arch: dict, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    torch.manual_seed(len(arch) + arch["chans"])
    model = FastMriUnet(in_chans=1, out_chans=1, **arch).eval()
    weights = tmp_path / "knee_mc_leaderboard_state_dict.pt"
    torch.save(model.state_dict(), weights)
    data, out = small_multicoil / "multicoil_test", tmp_path / "out"  # test files: own masks
    code, _, err = reconstruct(capsys, data, out, "--checkpoint", weights)
    assert code == 0, err
    transform = T.UnetDataTransform("multicoil")
    for file in sorted(data.glob("*.h5")):
        assert_equal_volumes(read_volume(out / file.name), fastmri_volume(file, model, transform))


@pytest.mark.parametrize("arch", VARNETS)
def test_a_varnet_lightning_checkpoint_reconstructs_like_fastmri(
    arch: dict, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    torch.manual_seed(arch["chans"])
    model = FastMriVarNet(**arch).eval()
    weights = tmp_path / "epoch=49-step=100.ckpt"  # as fastMRI's VarNetModule saves it
    state = {f"varnet.{key}": value for key, value in model.state_dict().items()}
    torch.save({"epoch": 49, "global_step": 100, "state_dict": state}, weights)
    data, out = small_multicoil / "multicoil_val", tmp_path / "out"  # fully sampled
    code, _, err = reconstruct(capsys, data, out, "--checkpoint", weights,
                               "--config", "varnet_knee_multicoil")  # fmt: skip
    assert code == 0, err
    mask = create_mask_for_mask_type("random", [0.08], [4])  # the recipe's
    transform = T.VarNetDataTransform(mask_func=mask, use_seed=True)
    for file in sorted(data.glob("*.h5")):
        assert_equal_volumes(read_volume(out / file.name), fastmri_volume(file, model, transform))


def test_evaluate_scores_published_weights(small_multicoil: Path, tmp_path: Path, capsys) -> None:
    weights = tmp_path / "brain_leaderboard_state_dict.pt"
    torch.save(FastMriUnet(1, 1, chans=4, num_pool_layers=2).state_dict(), weights)
    code, stdout, err = run_main(capsys, "evaluate", "--checkpoint", weights, "--data-path",
                                 small_multicoil / "multicoil_val", "--config",
                                 "unet_brain_multicoil")  # fmt: skip
    assert code == 0, err
    assert "4x" in stdout and "U-Net" in stdout and "zero-filled" in stdout


def test_what_a_state_dict_cannot_say_is_asked_for(
    tiny_checkpoint: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    unet, varnet = tmp_path / "unet.pt", tmp_path / "varnet.pt"
    torch.save(FastMriUnet(1, 1, chans=4, num_pool_layers=2).state_dict(), unet)
    torch.save(FastMriVarNet(**VARNETS[0]).state_dict(), varnet)
    foreign = tmp_path / "foreign.pt"
    torch.save({"encoder.weight": torch.zeros(2)}, foreign)
    val, test = small_multicoil / "multicoil_val", small_multicoil / "multicoil_test"
    out = tmp_path / "o"
    cases = [
        (val, ("--checkpoint", unet), f"{sorted(val.glob('*.h5'))[0]}: fully sampled; give "
         "--config RECIPE (the recipe of unet.pt, e.g. unet_knee_multicoil: fastMRI's weights "
         "record no masks) or --accelerations"),
        (test, ("--checkpoint", varnet, "--config", "unet_knee_multicoil"),
         f"config unet_knee_multicoil: a recipe for the U-Net, but {varnet} holds VarNet weights"),
        (test, ("--checkpoint", unet, "--config", "unet_knee_singlecoil"),
         "holds multicoil data, not singlecoil (config unet_knee_singlecoil's)"),
        (test, ("--checkpoint", unet, "--config", "no_such_recipe"),
         "config: no_such_recipe is neither a file nor a bundled recipe"),
        (test, ("--checkpoint", tiny_checkpoint, "--config", "demo"),
         f"config: checkpoint {tiny_checkpoint} is mri-recon's and records its own settings"),
        (test, ("--zero-filled", "--config", "demo"), "config: a recipe goes with --checkpoint"),
        (test, ("--checkpoint", foreign), f"checkpoint {foreign}: not an mri-recon checkpoint "
         "(no 'mri_recon' section), nor fastMRI's U-Net or VarNet weights"),
    ]  # fmt: skip
    for data, args, message in cases:
        code, stdout, err = reconstruct(capsys, data, out, *args)
        line = error_line(err, "reconstruct")
        assert code == 2 and stdout == "" and message in line, line
        assert not out.exists()
