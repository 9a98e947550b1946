"""The architecture of fastMRI's U-Net and VarNet read from their state dicts, at several sizes
and in every form fastMRI saves them; what cannot be read is a one-line error; published weights
load as checkpoints with a recipe's data settings."""

import pytest
import torch
from fastmri.models import Unet as FastMriUnet
from fastmri.models import VarNet as FastMriVarNet

from mri_recon.models.checkpoint import load_checkpoint
from mri_recon.models.fastmri_architecture import build_fastmri_network, fastmri_architecture
from mri_recon.recipes import read_recipe

UNETS = [dict(in_chans=1, out_chans=1, chans=4, num_pool_layers=2),
         dict(in_chans=2, out_chans=3, chans=8, num_pool_layers=3),
         dict(in_chans=1, out_chans=1, chans=6, num_pool_layers=1)]  # fmt: skip
VARNETS = [dict(num_cascades=2, sens_chans=4, sens_pools=2, chans=6, pools=3),
           dict(num_cascades=3, sens_chans=2, sens_pools=1, chans=4, pools=2)]  # fmt: skip


def forms(state: dict[str, torch.Tensor], prefix: str) -> list[object]:
    """A state dict as fastMRI saves it: bare, and in a Lightning checkpoint under ``prefix``."""
    prefixed = {prefix + key: value for key, value in state.items()}
    lightning = {"epoch": 7, "global_step": 70, "state_dict": prefixed}
    lightning["state_dict"]["loss.w"] = torch.ones(1)  # another submodule's state: ignored
    return [state, lightning]


@pytest.mark.parametrize("arch", UNETS)
def test_unet_architecture_and_outputs(arch: dict[str, int]) -> None:
    torch.manual_seed(0)
    reference = FastMriUnet(**arch).eval()
    for content in forms(reference.state_dict(), "unet."):
        assert fastmri_architecture(content) == ("Unet", arch)
        net = build_fastmri_network(content)
        x = torch.randn(2, arch["in_chans"], 21, 18)
        with torch.no_grad():
            torch.testing.assert_close(net(x), reference(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", VARNETS)
def test_varnet_architecture_and_outputs(arch: dict[str, int]) -> None:
    torch.manual_seed(0)
    reference = FastMriVarNet(**arch).eval()
    for content in forms(reference.state_dict(), "varnet."):
        assert fastmri_architecture(content) == ("VarNet", arch)
        net = build_fastmri_network(content)
        kspace = torch.randn(1, 3, 24, 20, 2)
        mask = torch.zeros(1, 1, 1, 20, 1, dtype=torch.bool)
        mask[..., ::2, :] = True
        mask[..., 8:12, :] = True
        with torch.no_grad():
            expected = reference(kspace * mask, mask, None)
            torch.testing.assert_close(net(kspace * mask, mask), expected, atol=1e-4, rtol=1e-4)


def test_recipe_arguments_that_change_no_tensor() -> None:
    state = FastMriVarNet(**VARNETS[1]).state_dict()
    assert build_fastmri_network(state).config()["mask_center"] is True  # fastMRI's default
    net = build_fastmri_network(state, {"mask_center": False, "chans": 99, "conv_impl": "scratch"})
    assert net.config()["mask_center"] is False and net.chans == 4  # the tensors decide sizes
    assert net.conv_impl == "scratch" and build_fastmri_network(state).conv_impl == "aten"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: {"weight": torch.zeros(1)}, "holds no fastMRI U-Net or VarNet weights"),
        (lambda s: [1, 2], "holds no fastMRI U-Net or VarNet weights"),
        (lambda s: {k: v for k, v in s.items() if not k.startswith("up_conv.1.1")},
         r"no tensor 'up_conv\.1\.1\.weight', so the architecture cannot be read"),
        (lambda s: {**s, "down_sample_layers.0.layers.0.weight": torch.zeros(4, 1)},
         r"'down_sample_layers\.0\.layers\.0\.weight' is \(4, 1\), not a 4-D convolution"),
        (lambda s: {**s, "up_conv.0.layers.4.weight": torch.zeros(4, 4, 3, 3)},
         r"'up_conv\.0\.layers\.4\.weight' has shape \(4, 4, 3, 3\) but the model expects"),
        (lambda s: {**s, "extra.weight": torch.zeros(1)}, "unexpected key 'extra.weight'"),
    ],
)  # fmt: skip
def test_what_cannot_be_read_is_refused(change, message: str) -> None:
    state = FastMriUnet(**UNETS[0]).state_dict()
    with pytest.raises(ValueError, match=message) as caught:
        build_fastmri_network(change(dict(state)))
    assert "\n" not in str(caught.value)


def test_varnet_with_mixed_cascades_or_a_real_unet_is_refused() -> None:
    state = dict(FastMriVarNet(**VARNETS[0]).state_dict())
    other = FastMriVarNet(**{**VARNETS[0], "chans": 4}).state_dict()
    mixed = {**state, **{k: v for k, v in other.items() if k.startswith("cascades.1.")}}
    with pytest.raises(ValueError, match=r"'cascades\.1\.model\.unet\.down_sample_layers\.0"):
        build_fastmri_network(mixed)
    state["cascades.0.model.unet.down_sample_layers.0.layers.0.weight"] = torch.zeros(6, 1, 3, 3)
    with pytest.raises(ValueError, match=r"the cascade U-Net .* maps 1 channels to 2, not 2 to 2"):
        build_fastmri_network(state)


def test_published_weights_load_as_checkpoints_with_a_recipe(tmp_path) -> None:
    path = tmp_path / "knee_leaderboard_state_dict.pt"
    torch.save(FastMriVarNet(**VARNETS[0]).state_dict(), path)
    bare = load_checkpoint(path)
    assert bare.published and bare.data is None and bare.recipe is None
    loaded = load_checkpoint(path, read_recipe("varnet_knee_multicoil"))
    assert loaded.recipe == "varnet_knee_multicoil" and loaded.net_name == "VarNet"
    assert loaded.data == {"challenge": "multicoil", "mask_type": "random",
                           "center_fractions": [0.08], "accelerations": [4]}  # fmt: skip
    with pytest.raises(ValueError, match=f"config unet_knee_singlecoil: a recipe for the U-Net, "
                       f"but {path} holds VarNet weights"):  # fmt: skip
        load_checkpoint(path, read_recipe("unet_knee_singlecoil"))


def test_recipes_that_cannot_be_read(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="config: nope is neither a file nor a bundled"):
        read_recipe("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed\n")
    with pytest.raises(ValueError, match=f"config {bad}: not a readable YAML recipe"):
        read_recipe(str(bad))
    bad.write_text("model:\n  loss: l1\n")
    with pytest.raises(ValueError, match=f"config {bad}: sets no data.challenge"):
        read_recipe(str(bad))
    bad.write_text("data:\n  challenge: multicoil\n")  # the datamodule's mask defaults
    recipe = read_recipe(str(bad))
    assert recipe.network == "Unet" and recipe.data["accelerations"] == [4]
