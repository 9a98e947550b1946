"""Conv1d, Conv2d, ConvTranspose2d modules against torch.nn's: state_dict, init, repr, impl."""

import math

import pytest
import torch
from torch import nn

from mri_recon.nn.conv import Conv1d, Conv2d, ConvTranspose2d

# (our class, torch's class, constructor arguments, input shape)
CASES = [
    (
        Conv1d,
        nn.Conv1d,
        dict(in_channels=3, out_channels=4, kernel_size=3, padding="same"),
        (2, 3, 11),
    ),
    (
        Conv1d,
        nn.Conv1d,
        dict(in_channels=4, out_channels=6, kernel_size=5, stride=2, groups=2, bias=False),
        (2, 4, 13),
    ),
    (
        Conv2d,
        nn.Conv2d,
        dict(in_channels=3, out_channels=5, kernel_size=3, padding=1),
        (2, 3, 9, 7),
    ),
    (
        Conv2d,
        nn.Conv2d,
        dict(
            in_channels=4, out_channels=4, kernel_size=(3, 2), stride=(2, 1), dilation=2, groups=4
        ),
        (1, 4, 11, 8),
    ),
    (
        Conv2d,
        nn.Conv2d,
        dict(in_channels=6, out_channels=2, kernel_size=1, bias=False),
        (3, 6, 5, 5),
    ),
    (
        ConvTranspose2d,
        nn.ConvTranspose2d,
        dict(in_channels=6, out_channels=3, kernel_size=2, stride=2),
        (2, 6, 5, 7),
    ),
    (
        ConvTranspose2d,
        nn.ConvTranspose2d,
        dict(
            in_channels=4,
            out_channels=6,
            kernel_size=3,
            stride=2,
            padding=1,
            output_padding=1,
            groups=2,
        ),
        (1, 4, 4, 5),
    ),
]


def _run(module, x):
    x = x.clone().requires_grad_()
    y = module(x)
    y.backward(torch.linspace(-1, 1, y.numel(), dtype=y.dtype).reshape(y.shape))
    return [y, x.grad] + [p.grad for p in module.parameters()]


@pytest.mark.parametrize("ours_cls,torch_cls,kwargs,x_shape", CASES)
def test_state_dict_moves_both_ways(ours_cls, torch_cls, kwargs, x_shape):
    x = torch.randn(x_shape, dtype=torch.float64)
    ref = torch_cls(**kwargs, dtype=torch.float64)
    ours = ours_cls(**kwargs, dtype=torch.float64)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict())
    for got, want in zip(_run(ours, x), _run(ref, x), strict=True):
        torch.testing.assert_close(got, want)
    back = torch_cls(**kwargs, dtype=torch.float64)
    back.load_state_dict(ours_cls(**kwargs, dtype=torch.float64).state_dict())
    fresh = ours_cls(**kwargs, dtype=torch.float64)
    fresh.load_state_dict(back.state_dict())
    torch.testing.assert_close(fresh(x), back(x))


@pytest.mark.parametrize("ours_cls,torch_cls,kwargs,x_shape", CASES)
def test_aten_impl_matches_scratch(ours_cls, torch_cls, kwargs, x_shape):
    x = torch.randn(x_shape, dtype=torch.float64)
    scratch = ours_cls(**kwargs, dtype=torch.float64)
    aten = ours_cls(**kwargs, dtype=torch.float64, impl="aten")
    aten.load_state_dict(scratch.state_dict())
    for got, want in zip(_run(scratch, x), _run(aten, x), strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("ours_cls,torch_cls,kwargs,x_shape", CASES)
def test_same_seed_gives_torch_init_and_repr(ours_cls, torch_cls, kwargs, x_shape):
    torch.manual_seed(3)
    ours = ours_cls(**kwargs)
    torch.manual_seed(3)
    ref = torch_cls(**kwargs)
    for got, want in zip(ours.parameters(), ref.parameters(), strict=True):
        assert torch.equal(got, want)
    assert repr(ours) == repr(ref)


@pytest.mark.parametrize("transposed", [False, True])
def test_init_statistics(transposed):
    torch.manual_seed(0)
    cls = ConvTranspose2d if transposed else Conv2d
    layer = cls(64, 48, 3)
    fan_in = layer.weight.shape[1] * 9
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform_ with a = sqrt(5)
    for p in (layer.weight, layer.bias):
        assert p.abs().max() <= bound
        assert abs(p.std().item() - bound / math.sqrt(3)) < 0.05 * bound
        assert abs(p.mean().item()) < 0.1 * bound


def test_conv_transpose_output_size_argument():
    torch.manual_seed(0)
    ours = ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    ref = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(1, 3, 5, 6)
    for size in ([9, 11], [10, 12], [1, 3, 10, 11]):
        y = ours(x, output_size=size)
        assert y.shape[-2:] == tuple(size[-2:])
        torch.testing.assert_close(y, ref(x, output_size=size))


def test_channels_last_input_and_parameters():
    torch.manual_seed(0)
    ours = Conv2d(4, 6, 3, padding=1).to(memory_format=torch.channels_last)
    ref = nn.Conv2d(4, 6, 3, padding=1)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(2, 4, 9, 7).contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-5)


def test_bf16_autocast_module_output_dtype():
    torch.manual_seed(0)
    ours, aten = Conv2d(8, 8, 3, padding=1), Conv2d(8, 8, 3, padding=1, impl="aten")
    aten.load_state_dict(ours.state_dict())
    x = torch.randn(2, 8, 12, 12)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, ref = ours(x), aten(x)
    assert y.dtype == ref.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), ref.float(), atol=0.05, rtol=0.02)


@pytest.mark.parametrize(
    "build,message",
    [
        (lambda: Conv2d(3, 4, 3, groups=2), "in_channels=3 is not divisible by groups=2"),
        (lambda: Conv2d(4, 3, 3, groups=2), "out_channels=3 is not divisible by groups=2"),
        (lambda: Conv2d(4, 4, 3, groups=0), "groups must be positive"),
        (lambda: Conv2d(4, 4, 3, padding_mode="reflect"), "only padding_mode='zeros'"),
        (lambda: Conv2d(4, 4, 3, impl="cuda"), "impl must be one of"),
        (lambda: Conv2d(4, 4, 3, stride=2, padding="same"), "padding='same' needs stride 1"),
        (lambda: Conv2d(4, 4, 3, padding="full"), "padding must be 'same', 'valid'"),
        (lambda: Conv2d(4, 4, (3, 3, 3)), "kernel_size must be an int or a 2-tuple"),
        (lambda: Conv1d(4, 4, 3, stride=(1, 1)), "stride must be an int or a 1-tuple"),
        (lambda: ConvTranspose2d(4, 4, 3, padding="same"), "ConvTranspose2d: padding must be"),
    ],
)
def test_constructor_errors(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_set_impl_switches_a_trained_network_to_the_same_outputs() -> None:
    from mri_recon.models import Unet
    from mri_recon.nn.impl import set_impl

    torch.manual_seed(0)
    net = Unet(1, 1, chans=4, num_pool_layers=2).eval()
    x = torch.randn(2, 1, 24, 20)
    with torch.no_grad():
        scratch = net(x)
        assert set_impl(net, "aten") is net
        aten = net(x)
    layers = [m for m in net.modules() if hasattr(m, "impl")]
    assert layers and all(m.impl == "aten" for m in layers)
    torch.testing.assert_close(aten, scratch, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="impl must be one of"):
        set_impl(net, "cuda")
