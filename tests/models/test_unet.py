"""Unet against fastmri.models.Unet: parameters, outputs, gradients, norms, channels-last, bf16."""

import pytest
import torch
from fastmri.models import Unet as FastMriUnet
from torch import nn

from mri_recon.models import Unet, load_fastmri_state_dict
from mri_recon.nn.impl import IMPLS

CL = torch.channels_last
NORMS = ["instance", "group", "batch", "layer", "none"]


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _torch_norm(norm: str, channels: int, num_groups: int) -> nn.Module:
    """torch.nn's layer for a ``norm`` option: the oracle for the non-fastMRI norms."""
    return {
        "instance": lambda: nn.InstanceNorm2d(channels),
        "group": lambda: nn.GroupNorm(num_groups, channels, affine=False),
        "batch": lambda: nn.BatchNorm2d(channels, affine=False),
        "layer": lambda: nn.GroupNorm(1, channels, affine=False),
        "none": nn.Identity,
    }[norm]()


def _fastmri_with_norm(norm: str, num_groups: int, **kwargs) -> FastMriUnet:
    """fastMRI's U-Net with its InstanceNorm2d layers swapped for torch's ``norm`` layer."""
    model = FastMriUnet(**kwargs)
    for block in model.modules():
        if isinstance(block, nn.Sequential):
            for i, layer in enumerate(block):
                if isinstance(layer, nn.InstanceNorm2d):
                    block[i] = _torch_norm(norm, layer.num_features, num_groups)
    return model


@pytest.mark.parametrize("norm", NORMS)
def test_parameter_count_matches_fastmri(norm):
    assert _count(Unet(1, 1, norm=norm)) == _count(FastMriUnet(1, 1)) == 7_756_097
    small = dict(in_chans=2, out_chans=3, chans=8, num_pool_layers=2)
    assert _count(Unet(**small, norm=norm, num_groups=4)) == _count(FastMriUnet(**small))


def test_state_dict_keys_and_shapes_are_fastmris():
    ours = {k: v.shape for k, v in Unet(1, 1, chans=8).state_dict().items()}
    theirs = {k: v.shape for k, v in FastMriUnet(1, 1, chans=8).state_dict().items()}
    assert ours == theirs


def test_config_rebuilds_the_same_model():
    args = dict(in_chans=2, out_chans=3, chans=8, num_pool_layers=2, drop_prob=0.1)
    args |= dict(norm="group", num_groups=4, conv_impl="aten", norm_impl="scratch")
    args |= dict(channels_last=True)
    model = Unet(**args)
    assert model.config() == args
    rebuilt = Unet(**model.config())
    rebuilt.load_state_dict(model.state_dict())
    assert repr(rebuilt) == repr(model)


@pytest.mark.parametrize("conv_impl", IMPLS)
@pytest.mark.parametrize("norm_impl", IMPLS)
@pytest.mark.parametrize(("in_chans", "out_chans", "shape"), [(1, 1, (37, 45)), (2, 2, (64, 64))])
def test_eval_output_matches_fastmri(conv_impl, norm_impl, in_chans, out_chans, shape):
    torch.manual_seed(0)
    reference = FastMriUnet(in_chans, out_chans).eval()  # fastMRI's size: chans 32, 4 pools
    model = Unet(in_chans, out_chans, conv_impl=conv_impl, norm_impl=norm_impl).eval()
    load_fastmri_state_dict(model, reference.state_dict())
    x = torch.randn(in_chans, in_chans, *shape)  # batch of 1 or 2
    with torch.no_grad():
        expected = reference(x)
        out = model(x)
    assert out.shape == expected.shape == (in_chans, out_chans, *shape)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_train_gradients_match_fastmri():
    """In float64: our layers and torch's round float32 sums differently, enough to put a
    pre-activation on the other side of LeakyReLU's kink on some CPU, which moves whole weight
    gradients."""
    torch.manual_seed(0)
    reference = FastMriUnet(1, 2, chans=8, num_pool_layers=3).train().double()
    model = Unet(1, 2, chans=8, num_pool_layers=3).train().double()
    load_fastmri_state_dict(model, reference.state_dict())
    x = torch.randn(2, 1, 33, 40, dtype=torch.float64)
    weight = torch.randn(2, 2, 33, 40, dtype=torch.float64)
    grads = []
    for net in (reference, model):
        image = x.clone().requires_grad_()
        (net(image) * weight).sum().backward()
        grads.append([image.grad] + [p.grad for p in net.parameters()])
    for expected, got in zip(*grads, strict=True):
        torch.testing.assert_close(got, expected, atol=1e-10 * expected.abs().max().item(), rtol=0)


@pytest.mark.parametrize("norm", ["group", "batch", "layer", "none"])
def test_other_norms_match_torch_layers(norm):
    """Each norm option equals fastMRI's U-Net with torch's layer in place of InstanceNorm2d."""
    torch.manual_seed(0)
    arch = dict(in_chans=1, out_chans=1, chans=8, num_pool_layers=2)
    reference = _fastmri_with_norm(norm, 4, **arch)
    model = Unet(**arch, norm=norm, num_groups=4)
    model.load_state_dict(reference.state_dict())
    x = torch.randn(2, 1, 20, 23)
    for mode in (True, False):  # train (batch statistics, updates) then eval (running stats)
        reference.train(mode)
        model.train(mode)
        torch.testing.assert_close(model(x), reference(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model.state_dict(), reference.state_dict())


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        (dict(in_chans=0), "in_chans"),
        (dict(out_chans=-1), "out_chans"),
        (dict(chans=0), "chans"),
        (dict(chans=2.5), "chans"),
        (dict(num_pool_layers=0), "num_pool_layers"),
        (dict(drop_prob=1.0), "drop_prob"),
        (dict(drop_prob=-0.1), "drop_prob"),
        (dict(norm="weight"), "norm"),
        (dict(norm="group", chans=12, num_groups=8), "num_groups"),
        (dict(num_groups=0), "num_groups"),
        (dict(conv_impl="cuda"), "conv_impl"),
        (dict(norm_impl="fast"), "norm_impl"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    args = dict(in_chans=1, out_chans=1, chans=8) | kwargs
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        Unet(**args)


def test_bad_inputs_are_refused():
    model = Unet(2, 1, chans=8, num_pool_layers=3)
    with pytest.raises(ValueError, match=r"\(N, 2, H, W\)"):
        model(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match="at least 2 \\*\\* num_pool_layers = 8"):
        model(torch.randn(1, 2, 7, 32))
    with pytest.raises(ValueError, match="instance norm"):
        model(torch.randn(1, 2, 8, 15))
    layer_norm = Unet(2, 1, chans=8, num_pool_layers=3, norm="layer")
    assert layer_norm(torch.randn(1, 2, 8, 15)).shape == (1, 1, 8, 15)


def test_channels_last_matches_contiguous_run():
    torch.manual_seed(0)
    base = Unet(2, 3, chans=8, num_pool_layers=3)
    model = Unet(2, 3, chans=8, num_pool_layers=3, channels_last=True)
    model.load_state_dict(base.state_dict())
    kernels = [p for p in model.parameters() if p.dim() == 4 and p.shape[1] > 1 < p.shape[-1]]
    assert len(kernels) == 17  # all but the first conv (1 input channel) and the final 1x1
    assert all(p.is_contiguous(memory_format=CL) and not p.is_contiguous() for p in kernels)
    x = torch.randn(2, 2, 37, 45)
    outputs, grads = [], []
    for net in (base, model):
        image = x.clone().requires_grad_()
        out = net(image)
        out.square().sum().backward()
        outputs.append(out)
        grads.append([image.grad] + [p.grad for p in net.parameters()])
    assert outputs[1].is_contiguous(memory_format=CL) and not outputs[1].is_contiguous()
    torch.testing.assert_close(outputs[1], outputs[0], atol=1e-5, rtol=1e-5)
    for expected, got in zip(*grads, strict=True):
        assert got.abs().sum() > 0
        # float32 sums in another order: compare to the gradient's scale
        torch.testing.assert_close(got, expected, atol=1e-5 * expected.abs().max(), rtol=1e-4)


def test_channels_last_survives_to():
    model = Unet(1, 1, chans=8, num_pool_layers=2, channels_last=True)
    model.to("cpu").to(torch.float64)
    weight = model.down_sample_layers[1].layers[0].weight
    assert weight.dtype == torch.float64 and weight.is_contiguous(memory_format=CL)
    assert not weight.is_contiguous()


def test_bf16_autocast_close_to_fp32():
    """bf16 noise, amplified by instance norm at the small bottom level, is about 12% of the
    gradient (torch's own layers do the same); the direction stays (cosine > 0.98)."""
    torch.manual_seed(0)
    model = Unet(1, 2, chans=8, num_pool_layers=3)
    x = torch.randn(2, 1, 40, 36)
    expected = model(x)
    expected.square().mean().backward()
    expected_grad = torch.cat([p.grad.flatten() for p in model.parameters()])
    model.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
        loss = out.float().square().mean()
    loss.backward()
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    assert (out.float() - expected).norm() < 0.05 * expected.norm()
    assert all(p.grad.dtype == torch.float32 for p in model.parameters())
    grad = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert torch.isfinite(grad).all()
    assert (grad - expected_grad).norm() < 0.25 * expected_grad.norm()
    assert torch.nn.functional.cosine_similarity(grad, expected_grad, dim=0) > 0.98
