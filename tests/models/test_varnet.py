"""VarNet against fastmri.models.VarNet: parameters, names, outputs (weights copied), gradients."""

import pytest
import torch
from fastmri.data.transforms import batched_mask_center
from fastmri.models import VarNet as FastMriVarNet

from mri_recon.models import VarNet, load_fastmri_state_dict
from mri_recon.models import varnet as varnet_module
from mri_recon.models.fastmri_weights import map_fastmri_keys
from mri_recon.models.sensitivity import keep_center

SMALL = dict(num_cascades=3, sens_chans=4, sens_pools=3, chans=6, pools=3)


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _perturbed(model: FastMriVarNet, seed: int = 0) -> FastMriVarNet:
    """``model`` with every weight moved off its initial value (dc_weight starts at exactly 1)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    return model.eval()


def _sample(batch: int, coils: int, height: int, width: int, seed: int = 0):
    """Masked k-space and an every-third-line mask with a 6-line centre, (batch, 1, 1, W, 1)."""
    generator = torch.Generator().manual_seed(seed)
    kspace = torch.randn(batch, coils, height, width, 2, generator=generator)
    mask = torch.zeros(1, 1, 1, width, 1, dtype=torch.bool)
    mask[..., ::3, :] = True
    mask[..., width // 2 - 3 : width // 2 + 3, :] = True
    mask = mask.expand(batch, 1, 1, width, 1)
    return kspace * mask, mask


def test_parameter_count_and_names_are_fastmris():
    ours, theirs = VarNet(), FastMriVarNet()
    assert _count(ours) == _count(theirs) == 29_936_966
    shapes = {key: value.shape for key, value in ours.state_dict().items()}
    assert shapes == {key: value.shape for key, value in theirs.state_dict().items()}


@pytest.mark.parametrize(
    ("mask_center", "coils", "shape", "num_low_frequencies", "impl"),
    [
        (True, 1, (37, 29), None, "scratch"),  # singlecoil-shaped: one coil
        (False, 1, (37, 29), 4, "aten"),
        (True, 4, (40, 33), 6, "scratch"),
        (False, 4, (33, 40), None, "scratch"),
    ],
)
def test_output_matches_fastmri(mask_center, coils, shape, num_low_frequencies, impl):
    reference = _perturbed(FastMriVarNet(**SMALL, mask_center=mask_center))
    model = VarNet(**SMALL, mask_center=mask_center, conv_impl=impl, norm_impl=impl).eval()
    load_fastmri_state_dict(model, reference.state_dict())
    kspace, mask = _sample(2, coils, *shape)
    with torch.no_grad():
        expected = reference(kspace, mask, num_low_frequencies)
        output = model(kspace, mask, num_low_frequencies)
    assert output.shape == expected.shape == (2, *shape)
    torch.testing.assert_close(output, expected, atol=1e-4, rtol=1e-4)


def test_default_size_matches_fastmri_in_float64():
    """fastMRI's size, 12 cascades: in float32 both drift from the exact result by about 1e-4 of
    the output's maximum (rounding through 12 cascades), so the arithmetic is compared in float64
    where rounding is out of the way."""
    reference = _perturbed(FastMriVarNet()).double()
    model = VarNet().double().eval()
    load_fastmri_state_dict(model, {"varnet." + k: v for k, v in reference.state_dict().items()})
    kspace, mask = _sample(1, 3, 21, 18)
    with torch.no_grad():
        expected = reference(kspace.double(), mask)
        torch.testing.assert_close(model(kspace.double(), mask), expected, atol=1e-9, rtol=1e-9)


def test_per_sample_centre_counts_match_fastmri_sample_by_sample():
    """A batch's (N,) tensor of centre lines, 0 meaning 'count from the mask', as the k-space
    transform hands it over: each sample as fastmri computes it alone."""
    reference = _perturbed(FastMriVarNet(**SMALL))
    model = VarNet(**SMALL).eval()
    load_fastmri_state_dict(model, reference.state_dict())
    kspace, mask = _sample(2, 2, 32, 30)
    counts = torch.tensor([0, 4])
    with torch.no_grad():
        output = model(kspace, mask, counts)
        for i, count in enumerate([None, 4]):
            expected = reference(kspace[i : i + 1], mask[i : i + 1], count)
            torch.testing.assert_close(output[i : i + 1], expected, atol=1e-4, rtol=1e-4)


def test_checkpointing_keeps_less_and_gives_the_same_gradients():
    """Each checkpointed part keeps only its inputs for the backward pass (the activations saved
    for it, counted through autograd's saved-tensor hooks, shrink) and recomputes the rest, to
    the same gradients. In float64: the checkpointed sensitivity network runs one coil image at a
    time, so its weight gradients add the images' terms in another order, and float32's rounding
    of those sums would hide a wrong gradient of the same size."""
    torch.manual_seed(0)
    settings = [{}, {"checkpoint_cascades": True},
                {"checkpoint_cascades": True, "checkpoint_sensitivity": True}]  # fmt: skip
    models = [VarNet(**SMALL, **extra).double().train() for extra in settings]
    for model in models[1:]:
        model.load_state_dict(models[0].state_dict())
    kspace, mask = _sample(2, 3, 32, 24)
    kspace = kspace.double()
    grads, saved = [], []
    for model in models:
        kept = [0]

        def pack(tensor: torch.Tensor, kept: list[int] = kept) -> torch.Tensor:
            kept[0] += tensor.numel()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            loss = model(kspace, mask).square().mean()
        loss.backward()
        grads.append({name: p.grad for name, p in model.named_parameters()})
        saved.append(kept[0])
    assert saved[0] > saved[1] > saved[2]
    for checkpointed in grads[1:]:
        assert checkpointed.keys() == grads[0].keys()
        for name in grads[0]:
            torch.testing.assert_close(checkpointed[name], grads[0][name], atol=1e-12, rtol=1e-9)


def test_bf16_autocast_keeps_complex_data_in_float32():
    torch.manual_seed(0)
    model = VarNet(**SMALL).eval()
    kspace, mask = _sample(1, 3, 32, 24)
    with torch.no_grad():
        full = model(kspace, mask)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = model(kspace, mask)
    assert half.dtype == torch.float32
    assert (half - full).abs().max() < 0.05 * full.abs().max()


def test_checkpointed_training_on_a_cpu_releases_freed_memory_before_each_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before the sensitivity network and each cascade when they are checkpointed (training, on
    a CPU, eagerly); never in evaluation or without checkpointing."""
    calls = []
    monkeypatch.setattr(varnet_module, "release_freed_memory", lambda: calls.append(1))
    kspace, mask = _sample(1, 3, 32, 24)
    cascades = SMALL["num_cascades"]
    runs = [({"checkpoint_cascades": True, "checkpoint_sensitivity": True}, True, 1 + cascades),
            ({"checkpoint_cascades": True}, True, cascades), ({}, True, 0),
            ({"checkpoint_cascades": True, "checkpoint_sensitivity": True}, False, 0)]  # fmt: skip
    for extra, training, expected in runs:
        calls.clear()
        VarNet(**SMALL, **extra).train(training)(kspace, mask)
        assert len(calls) == expected, (extra, training)


def test_config_rebuilds_the_same_model():
    model = VarNet(**SMALL, mask_center=False, conv_impl="aten", checkpoint_cascades=True,
                   checkpoint_sensitivity=True)  # fmt: skip
    rebuilt = VarNet(**model.config())
    rebuilt.load_state_dict(model.state_dict())
    assert rebuilt.config() == model.config()
    assert repr(rebuilt) == repr(model)


def test_varnet_weights_are_found_under_fastmris_prefixes():
    state = FastMriVarNet(**SMALL).state_dict()
    checkpoint = {"state_dict": {"varnet." + k: v for k, v in state.items()}}
    mapped = map_fastmri_keys(checkpoint, VarNet())
    assert list(mapped) == list(state)
    with pytest.raises(ValueError, match="no fastMRI VarNet weights found"):
        load_fastmri_state_dict(VarNet(**SMALL), {"down_sample_layers.0.layers.0.weight": 0})


def test_bad_arguments_and_inputs_are_named():
    with pytest.raises(ValueError, match="num_cascades must be an integer >= 1"):
        VarNet(num_cascades=0)
    with pytest.raises(ValueError, match="conv_impl must be one of"):
        VarNet(conv_impl="cuda")
    kspace, mask = _sample(1, 2, 32, 24)
    with pytest.raises(ValueError, match=r"masked_kspace must be \(N, coils, H, W, 2\)"):
        VarNet(**SMALL)(kspace[0], mask)
    with pytest.raises(ValueError, match=r"mask must be \(1, 1, 1, 24, 1\)"):
        VarNet(**SMALL)(kspace, mask[..., :20, :])


def test_keeping_the_centre_equals_fastmris_batched_mask_center():
    kspace = torch.randn(3, 2, 8, 20, 2)
    start, end = torch.tensor([0, 5, 9]), torch.tensor([20, 9, 10])
    expected = batched_mask_center(kspace, start, end)
    torch.testing.assert_close(keep_center(kspace, start, end), expected, rtol=0, atol=0)
