"""Channels-last inputs through our layers: values, output and input-gradient format vs torch.

The memory format is compared as torch's tests do, with ``is_contiguous(memory_format=...)``
(strides of size-1 axes are free). The input gradient is taken at a non-leaf tensor, so autograd
hands it over as the layer returns it (a leaf's ``.grad`` is re-laid out like the leaf).
"""

import itertools

import pytest
import torch
from torch import nn

from mri_recon import nn as ours
from mri_recon.nn import conv_functional as ours_f

CL = torch.channels_last


def _formats(t: torch.Tensor) -> tuple[bool, bool]:
    return t.is_contiguous(), t.is_contiguous(memory_format=CL)


def _run(module: nn.Module, x: torch.Tensor, grad: torch.Tensor | None = None):
    """Output and input gradient of ``module`` at a non-leaf copy of ``x``."""
    leaf = x.detach().clone(memory_format=torch.preserve_format).requires_grad_()
    inner = leaf * 1  # keeps x's memory format
    out = module(inner)
    grad = torch.randn_like(out) if grad is None else grad
    (grad_in,) = torch.autograd.grad(out, inner, grad)
    return out, grad_in, grad


# (our class, torch's class, constructor arguments)
LAYERS = [
    (ours.Conv2d, nn.Conv2d, dict(in_channels=8, out_channels=6, kernel_size=3, padding=1)),
    (ours.Conv2d, nn.Conv2d, dict(in_channels=8, out_channels=6, kernel_size=1, bias=False)),
    (ours.Conv2d, nn.Conv2d, dict(in_channels=8, out_channels=4, kernel_size=3, stride=2)),
    (
        ours.ConvTranspose2d,
        nn.ConvTranspose2d,
        dict(in_channels=8, out_channels=4, kernel_size=2, stride=2, bias=False),
    ),
    (
        ours.ConvTranspose2d,
        nn.ConvTranspose2d,
        dict(in_channels=8, out_channels=4, kernel_size=3, stride=2, padding=1, output_padding=1),
    ),
    (ours.GroupNorm, nn.GroupNorm, dict(num_groups=2, num_channels=8)),
    (ours.GroupNorm, nn.GroupNorm, dict(num_groups=1, num_channels=8, affine=False)),
    (ours.BatchNorm2d, nn.BatchNorm2d, dict(num_features=8)),
    (ours.BatchNorm2d, nn.BatchNorm2d, dict(num_features=8, affine=False)),
]


@pytest.mark.parametrize("weight_cl", [False, True])
@pytest.mark.parametrize(("ours_cls", "torch_cls", "kwargs"), LAYERS)
def test_layer_matches_torch_values_and_memory_format(ours_cls, torch_cls, kwargs, weight_cl):
    torch.manual_seed(0)
    reference = torch_cls(**kwargs)
    layer = ours_cls(**kwargs)
    layer.load_state_dict(reference.state_dict())
    if weight_cl:
        reference.to(memory_format=CL)
        layer.to(memory_format=CL)
    x = torch.randn(2, 8, 9, 11).to(memory_format=CL)
    expected, expected_grad, grad = _run(reference, x)
    out, grad_in, _ = _run(layer, x, grad)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grad_in, expected_grad, atol=1e-5, rtol=1e-5)
    assert _formats(out) == _formats(expected) == (False, True)
    assert _formats(grad_in) == _formats(expected_grad) == (False, True)


@pytest.mark.parametrize("cls", [nn.Conv2d, ours.Conv2d])
def test_channels_last_weight_alone_makes_conv_output_channels_last(cls):
    """torch picks channels-last when the input or the weight is; ours follows."""
    torch.manual_seed(0)
    conv = cls(8, 6, 3, padding=1).to(memory_format=CL)
    out, grad_in, _ = _run(conv, torch.randn(2, 8, 9, 11))
    assert _formats(out) == (False, True)
    assert _formats(grad_in) == (False, True)


def test_conv_memory_format_matches_torch_on_ambiguous_shapes():
    """Size-1 channel/spatial axes make strides ambiguous; the formats still agree with torch."""
    cases = [
        ((1, 1, 37, 45), (32, 1, 3, 3)),
        ((2, 8, 1, 1), (4, 8, 3, 3)),
        ((2, 8, 9, 11), (1, 8, 1, 1)),
        ((1, 8, 1, 5), (3, 8, 1, 3)),
        ((2, 8, 5, 1), (4, 8, 1, 1)),
    ]
    torch.manual_seed(0)
    for (x_shape, w_shape), x_cl, w_cl in itertools.product(cases, (False, True), (False, True)):
        x, w = torch.randn(x_shape), torch.randn(w_shape)
        x = x.to(memory_format=CL) if x_cl else x
        w = w.to(memory_format=CL) if w_cl else w
        padding = (w_shape[2] // 2, w_shape[3] // 2)
        expected = torch.nn.functional.conv2d(x, w, padding=padding)
        out = ours_f.conv2d(x, w, padding=padding)
        torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
        assert _formats(out) == _formats(expected), (x_shape, w_shape, x_cl, w_cl)


def test_instance_norm_keeps_channels_last():
    """torch's instance_norm returns NCHW output and input gradient for a channels-last input (it
    runs batch_norm on a contiguous copy); ours keeps the input's format, as torch's
    GroupNorm(C, C) does, and the gradient's, so a channels-last network stays channels-last.
    Values and gradients agree with torch."""
    torch.manual_seed(0)
    x = torch.randn(2, 8, 9, 11).to(memory_format=CL)
    grad = torch.randn(2, 8, 9, 11).to(memory_format=CL)
    expected, expected_grad, _ = _run(nn.InstanceNorm2d(8), x, grad)
    out, grad_in, _ = _run(ours.InstanceNorm2d(8), x, grad)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grad_in, expected_grad, atol=1e-5, rtol=1e-5)
    assert _formats(expected) == _formats(expected_grad) == (True, False)
    assert _formats(out) == _formats(grad_in) == (False, True)
    group_like = nn.GroupNorm(8, 8, affine=False)(x)
    assert _formats(group_like) == (False, True)


def test_contiguous_input_and_weight_stay_contiguous():
    torch.manual_seed(0)
    for layer in (ours.Conv2d(8, 6, 3, padding=1), ours.ConvTranspose2d(8, 4, 2, stride=2)):
        out, grad_in, _ = _run(layer, torch.randn(2, 8, 9, 11))
        assert _formats(out) == _formats(grad_in) == (True, False)


@pytest.mark.parametrize("transposed", [False, True])
def test_gradcheck_channels_last_float64(transposed):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64).to(memory_format=CL).requires_grad_()
    shape = (3, 4, 2, 2) if transposed else (4, 3, 3, 3)
    w = torch.randn(shape, dtype=torch.float64).to(memory_format=CL).requires_grad_()
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    if transposed:
        assert torch.autograd.gradcheck(lambda *a: ours_f.conv_transpose2d(*a, stride=2), (x, w, b))
    else:
        assert torch.autograd.gradcheck(lambda *a: ours_f.conv2d(*a, padding=1), (x, w, b))


# Two fixes the channels-last U-Net needed, beside the memory format.


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(
    "layer",
    [
        ours.Conv2d(4, 6, 3, padding=1, bias=False),
        ours.Conv2d(4, 6, 1),
        ours.ConvTranspose2d(4, 6, 2, stride=2, bias=False),
        ours.ConvTranspose2d(4, 6, 3, padding=1),
    ],
)
def test_output_accepts_inplace_ops(layer, channels_last):
    """The output is not a view made inside the Function, so LeakyReLU(inplace=True) may follow
    (fastMRI's U-Net does); the gradient equals torch's through the same in-place op."""
    torch.manual_seed(0)
    reference = (nn.Conv2d if isinstance(layer, ours.Conv2d) else nn.ConvTranspose2d)(
        4, 6, layer.kernel_size, layer.stride, layer.padding, bias=layer.bias is not None
    )
    reference.load_state_dict(layer.state_dict())
    x = torch.randn(2, 4, 7, 6)
    x = x.to(memory_format=CL) if channels_last else x
    results = []
    for module in (reference, layer):
        leaf = x.clone().requires_grad_()
        out = nn.functional.leaky_relu(module(leaf), 0.2, inplace=True)
        out.square().sum().backward()
        results.append((out, leaf.grad))
    torch.testing.assert_close(results[1], results[0], atol=1e-4, rtol=1e-5)


def test_autocast_accepts_low_precision_input_with_float32_weight():
    """Under autocast a bfloat16 activation meets float32 weights (the layer after a norm);
    torch casts both, and so do we."""
    torch.manual_seed(0)
    x = torch.randn(2, 4, 8, 8, dtype=torch.bfloat16)
    w, b = torch.randn(6, 4, 3, 3), torch.randn(6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = nn.functional.conv2d(x, w, b, padding=1)
        out = ours_f.conv2d(x, w, b, padding=1)
    assert out.dtype == expected.dtype == torch.bfloat16
    torch.testing.assert_close(out, expected, atol=0.1, rtol=0.02)
    with pytest.raises(ValueError, match="weight is torch.float32"):
        ours_f.conv2d(x, w, b, padding=1)  # outside autocast: still refused
