"""The shifted convolution: which layers take it (forward and stride-1 input gradient), and a
layer that does against torch. Values and gradients on every geometry are checked in
test_conv_functional, whose ``conv_path`` fixture runs those tests on both paths."""

import torch
import torch.nn.functional as F

from mri_recon.nn import Conv2d, conv_shift
from mri_recon.nn.conv_shapes import ConvGeometry

SAME_3X3 = ConvGeometry((1, 1), (1, 1, 1, 1), (1, 1), 1)


def test_the_rule_on_the_demo_unets_layers():
    """Batch 2 of 128 x 128, 16 channels at the top: the rule of conv_shift's constants."""
    forward = {
        (16, 1, 128): False,  # one input channel: each tap's product is a vector's
        (16, 16, 128): True,
        (32, 16, 64): True,  # 2 * 66 * 66 grid positions
        (64, 32, 32): False,  # 2 * 34 * 34: im2col's copies stay in cache
        (256, 256, 8): False,
    }
    for (out_ch, in_ch, size), shifts in forward.items():
        weight, x = (out_ch, in_ch, 3, 3), (2, in_ch, size, size)
        assert conv_shift.suits(weight, SAME_3X3, torch.float32, x) == shifts, weight


def test_only_stride_one_ungrouped_float_convolutions_shift():
    x = (2, 16, 128, 128)
    assert conv_shift.suits((16, 16, 3, 3), SAME_3X3, torch.float64, x)
    assert not conv_shift.suits((16, 16, 3, 3), SAME_3X3, torch.bfloat16, x)
    assert not conv_shift.suits((16, 16, 1, 1), SAME_3X3, torch.float32, x)
    strided = ConvGeometry((2, 2), (1, 1, 1, 1), (1, 1), 1)
    assert not conv_shift.suits((16, 16, 3, 3), strided, torch.float32, x)
    grouped = ConvGeometry((1, 1), (1, 1, 1, 1), (1, 1), 2)
    assert not conv_shift.suits((16, 8, 3, 3), grouped, torch.float32, x)


def test_a_layer_the_rule_shifts_matches_torch():
    """A 16-channel layer on 2 x 48 x 46 images, float32, with the rule as it ships."""
    gen = torch.Generator().manual_seed(0)
    layer = Conv2d(16, 16, 3, padding=1)
    x = torch.randn(2, 16, 48, 46, generator=gen)
    assert conv_shift.suits(layer.weight.shape, SAME_3X3, x.dtype, x.shape)
    ours, ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = layer(ours)
    want = F.conv2d(ref, layer.weight, layer.bias, padding=1)
    torch.testing.assert_close(out, want)
    grad = torch.randn(out.shape, generator=gen)
    (ours_x, ours_w), (ref_x, ref_w) = (
        torch.autograd.grad(y, (inp, layer.weight), grad) for y, inp in ((out, ours), (want, ref))
    )
    torch.testing.assert_close(ours_x, ref_x)
    torch.testing.assert_close(ours_w, ref_w, rtol=1e-4, atol=1e-4 * ref_w.abs().max().item())
