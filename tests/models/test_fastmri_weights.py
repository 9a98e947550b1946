"""load_fastmri_state_dict: fastMRI state dicts, files and checkpoints; clear errors otherwise."""

import pytest
import torch
from fastmri.models import Unet as FastMriUnet

from mri_recon.models import Unet, load_fastmri_state_dict
from mri_recon.models.fastmri_weights import map_fastmri_keys

ARCH = dict(in_chans=1, out_chans=1, chans=8, num_pool_layers=2)


@pytest.fixture
def reference() -> FastMriUnet:
    torch.manual_seed(0)
    return FastMriUnet(**ARCH).eval()


def _assert_same_outputs(model: Unet, reference: FastMriUnet) -> None:
    x = torch.randn(2, 1, 21, 26)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), reference(x), atol=1e-5, rtol=1e-5)


def test_published_weights_file_round_trip(reference, tmp_path):
    """fastMRI publishes plain state dicts saved with torch.save; load one the safe way."""
    path = tmp_path / "unet_knee_sc.pt"
    torch.save(reference.state_dict(), path)
    model = Unet(**ARCH)
    load_fastmri_state_dict(model, torch.load(path, weights_only=True))
    _assert_same_outputs(model, reference)


@pytest.mark.parametrize("prefix", ["unet.", "model."])
def test_lightning_checkpoint_prefixes(reference, prefix, tmp_path):
    state = {prefix + key: value for key, value in reference.state_dict().items()}
    state["loss.w"] = torch.ones(3)  # another submodule's state: ignored
    path = tmp_path / "last.ckpt"
    torch.save({"epoch": 3, "state_dict": state}, path)
    checkpoint = torch.load(path, weights_only=True)
    for source in (checkpoint, checkpoint["state_dict"]):
        model = Unet(**ARCH)
        load_fastmri_state_dict(model, source)
        _assert_same_outputs(model, reference)


def test_mapping_is_the_identity(reference):
    state = reference.state_dict()
    mapped = map_fastmri_keys({"unet." + k: v for k, v in state.items()})
    assert list(mapped) == list(state)
    assert all(mapped[key] is state[key] for key in state)


def test_keeps_channels_last_and_dtype(reference):
    model = Unet(**ARCH, channels_last=True).double()
    load_fastmri_state_dict(model, reference.state_dict())
    weight = model.down_sample_layers[1].layers[0].weight
    assert weight.dtype == torch.float64
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    _assert_same_outputs(model.float(), reference)


def test_wrong_shape_names_key_and_shapes(reference):
    model = Unet(**{**ARCH, "chans": 4})
    before = {k: v.clone() for k, v in model.state_dict().items()}
    message = (
        r"'down_sample_layers\.0\.layers\.0\.weight' has shape \(8, 1, 3, 3\) "
        r"but the model expects \(4, 1, 3, 3\)"
    )
    with pytest.raises(ValueError, match=message):
        load_fastmri_state_dict(model, reference.state_dict())
    torch.testing.assert_close(model.state_dict(), before)  # nothing copied


def test_missing_and_unexpected_keys(reference):
    state = dict(reference.state_dict())
    del state["up_conv.1.1.bias"]
    with pytest.raises(ValueError, match=r"missing key 'up_conv\.1\.1\.bias'"):
        load_fastmri_state_dict(Unet(**ARCH), state)
    state = dict(reference.state_dict(), extra=torch.zeros(1))
    with pytest.raises(ValueError, match="unexpected key 'extra'"):
        load_fastmri_state_dict(Unet(**ARCH), state)


def test_batch_norm_model_names_the_missing_running_stats(reference):
    with pytest.raises(ValueError, match=r"missing key 'down_sample_layers\.0\.layers\.1\.running"):
        load_fastmri_state_dict(Unet(**ARCH, norm="batch"), reference.state_dict())


def test_not_a_unet_state_dict():
    with pytest.raises(ValueError, match="state_dict: no fastMRI U-Net weights found"):
        load_fastmri_state_dict(Unet(**ARCH), {"encoder.weight": torch.zeros(1)})
    state = dict(FastMriUnet(**ARCH).state_dict())
    state["conv.layers.0.weight"] = [1.0]
    with pytest.raises(ValueError, match=r"'conv\.layers\.0\.weight' is a list, not a tensor"):
        load_fastmri_state_dict(Unet(**ARCH), state)
