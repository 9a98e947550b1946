"""Output-size helpers and the one-line errors of the from-scratch convolutions."""

import pytest
import torch
import torch.nn.functional as F

from mri_recon.nn import conv_functional as ours


@pytest.mark.parametrize("length", [1, 5, 8, 13])
@pytest.mark.parametrize(
    "kernel,stride,padding,dilation", [(1, 1, 0, 1), (3, 2, 1, 1), (4, 3, 2, 2)]
)
def test_output_sizes_match_torch(length, kernel, stride, padding, dilation):
    x = torch.zeros(1, 1, max(length, 1))
    w = torch.zeros(1, 1, kernel)
    if length + 2 * padding >= dilation * (kernel - 1) + 1:
        ref = F.conv1d(x, w, stride=stride, padding=padding, dilation=dilation).shape[-1]
        assert ours.conv_output_size(length, kernel, stride, padding, dilation) == ref
    for extra in range(max(stride, dilation)):
        size = ours.conv_transpose_output_size(length, kernel, stride, padding, dilation, extra)
        if size >= 1:
            ref = F.conv_transpose1d(
                x, w, stride=stride, padding=padding, output_padding=extra, dilation=dilation
            )
            assert size == ref.shape[-1]


def test_formulas():
    assert ours.conv_output_size(320, 3, padding=1) == 320
    assert ours.conv_output_size(7, 3, stride=2) == 3
    assert ours.conv_output_size(10, 3, dilation=4) == 2
    assert ours.conv_transpose_output_size(20, 2, stride=2) == 40
    assert ours.conv_transpose_output_size(5, 3, stride=2, padding=1, output_padding=1) == 10


X = torch.zeros(1, 4, 6, 5)
W = torch.zeros(6, 4, 3, 3)


@pytest.mark.parametrize(
    "call,message",
    [
        (
            lambda: ours.conv2d(X[..., :2], torch.zeros(6, 4, 3, 5)),
            "input width 2 is smaller than the dilated kernel width 5",
        ),
        (
            lambda: ours.conv2d(X, W, dilation=(3, 1)),
            "input height 6 is smaller than the dilated kernel height 7",
        ),
        (
            lambda: ours.conv2d(X[..., :2], torch.zeros(6, 4, 3, 5), padding=(0, 1)),
            r"input width 2 \(padded: 4\) is smaller than the dilated kernel width 5",
        ),
        (
            lambda: ours.conv2d(X, torch.zeros(6, 3, 3, 3)),
            "input has 4 channels but the weight expects 3",
        ),
        (
            lambda: ours.conv2d(X, torch.zeros(6, 1, 1, 1), groups=3),
            "input channels 4 are not divisible by groups 3",
        ),
        (
            lambda: ours.conv2d(X, torch.zeros(5, 2, 1, 1), groups=2),
            r"weight.shape\[0\]=5 is not divisible by groups 2",
        ),
        (lambda: ours.conv2d(X, W, groups=0), "groups must be a positive int"),
        (lambda: ours.conv2d(X, W, stride=0), "stride must be positive"),
        (lambda: ours.conv2d(X, W, dilation=(1, 0)), "dilation must be positive"),
        (lambda: ours.conv2d(X, W, padding=-1), "padding must be non-negative"),
        (lambda: ours.conv2d(X, W, padding="full"), "padding must be 'same', 'valid'"),
        (lambda: ours.conv2d(X, W, padding="same", stride=2), "padding='same' needs stride 1"),
        (lambda: ours.conv2d(X, W, stride=(1, 2, 3)), "stride must be an int or a pair"),
        (lambda: ours.conv2d(X, W, bias=torch.zeros(5)), r"bias must have shape \(6,\)"),
        (lambda: ours.conv2d(X[0, 0], W), "input must be 3D"),
        (lambda: ours.conv2d(X, W[0]), "weight must be 4D"),
        (lambda: ours.conv2d(X, W.double()), "weight is torch.float64"),
        (
            lambda: ours.conv1d(X[0], torch.zeros(2, 6, 3), stride=(1, 2)),
            "conv1d: stride must be an int or a 1-tuple",
        ),
        (lambda: ours.conv1d(X[0], torch.zeros(2, 5, 3)), "conv1d: input has 6 channels"),
        (
            lambda: ours.conv_transpose2d(X, torch.zeros(3, 2, 2, 2)),
            "input has 4 channels but weight.shape\\[0\\] is 3",
        ),
        (
            lambda: ours.conv_transpose2d(X, torch.zeros(4, 2, 2, 2), groups=3),
            r"weight.shape\[0\]=4 is not divisible by groups 3",
        ),
        (
            lambda: ours.conv_transpose2d(X, torch.zeros(4, 2, 2, 2), stride=2, output_padding=2),
            "output_padding 2 must be",
        ),
        (
            lambda: ours.conv_transpose2d(X, torch.zeros(4, 2, 2, 2), padding=3),
            "leaves an empty output",
        ),
        (
            lambda: ours.conv_transpose2d(X, torch.zeros(4, 2, 2, 2), padding="same"),
            "conv_transpose2d: padding must be an int",
        ),
    ],
)
def test_errors_name_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()
