"""Output sizes and argument checks shared by the from-scratch convolutions.

Every convolution here is described by a :class:`ConvGeometry`: per spatial dimension the
stride, the zero padding before and after, and the dilation, plus the number of groups. The
functional forms build one from torch-style arguments (ints, tuples, ``'same'``/``'valid'``) and
check it against the input and weight shapes, so that a bad call fails with one line naming the
argument and the offending dimension instead of a shape error deep inside a matmul.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

IntOrPair = int | Sequence[int]


def conv_output_size(
    length: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """Length of a convolution's output along one dimension.

    Args:
        length: input length.
        kernel_size: kernel length.
        stride: step between neighbouring windows.
        padding: zeros added on each side.
        dilation: spacing between kernel taps.

    Returns:
        ``floor((length + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1``.
    """
    return (length + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def conv_transpose_output_size(
    length: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    output_padding: int = 0,
) -> int:
    """Length of a transposed convolution's output along one dimension.

    Args:
        length: input length.
        kernel_size: kernel length.
        stride: step of the matching forward convolution.
        padding: zeros the matching forward convolution adds on each side (cropped here).
        dilation: spacing between kernel taps.
        output_padding: extra length added on one side to pick among the input lengths that
            the forward convolution maps to ``length``.

    Returns:
        ``stride * (length - 1) - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1``.
    """
    return stride * (length - 1) - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1


@dataclass(frozen=True)
class ConvGeometry:
    """How a kernel slides over a 2D input.

    Attributes:
        stride: (height, width) step between windows.
        padding: (top, bottom, left, right) zeros around the input.
        dilation: (height, width) spacing between kernel taps.
        groups: number of channel groups.
    """

    stride: tuple[int, int]
    padding: tuple[int, int, int, int]
    dilation: tuple[int, int]
    groups: int


def pair(value: IntOrPair, name: str, op: str) -> tuple[int, int]:
    """Turn an int or a 1- or 2-sequence of ints into a (height, width) pair.

    Args:
        value: the argument as given.
        name: its name, for the error message.
        op: the calling function's name, for the error message.

    Returns:
        The pair of ints.
    """
    items = (value, value) if isinstance(value, int) else tuple(value)
    if len(items) == 1:
        items = (items[0], items[0])
    if len(items) != 2 or not all(isinstance(v, int) for v in items):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    return items


def make_geometry(
    op: str,
    kernel_hw: tuple[int, int],
    stride: IntOrPair,
    padding: IntOrPair | str,
    dilation: IntOrPair,
    groups: int,
) -> ConvGeometry:
    """Check torch-style convolution arguments and turn them into a :class:`ConvGeometry`.

    Args:
        op: the calling function's name, for error messages.
        kernel_hw: (height, width) of the kernel.
        stride: int or pair, each positive.
        padding: int or pair, each non-negative, or ``'valid'`` (no padding) or ``'same'``
            (output as large as the input; stride 1 only; an odd total goes to the bottom/right).
        dilation: int or pair, each positive.
        groups: positive number of channel groups.

    Returns:
        The geometry.
    """
    stride_hw = pair(stride, "stride", op)
    dilation_hw = pair(dilation, "dilation", op)
    if min(stride_hw) < 1:
        raise ValueError(f"{op}: stride must be positive, got {stride!r}")
    if min(dilation_hw) < 1:
        raise ValueError(f"{op}: dilation must be positive, got {dilation!r}")
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    if isinstance(padding, str):
        if padding == "valid":
            pads = (0, 0, 0, 0)
        elif padding == "same":
            if stride_hw != (1, 1):
                raise ValueError(f"{op}: padding='same' needs stride 1, got stride {stride!r}")
            total = [d * (k - 1) for d, k in zip(dilation_hw, kernel_hw, strict=True)]
            pads = (
                total[0] // 2,
                total[0] - total[0] // 2,
                total[1] // 2,
                total[1] - total[1] // 2,
            )
        else:
            raise ValueError(
                f"{op}: padding must be 'same', 'valid', an int or a pair, got {padding!r}"
            )
    else:
        pad_hw = pair(padding, "padding", op)
        if min(pad_hw) < 0:
            raise ValueError(f"{op}: padding must be non-negative, got {padding!r}")
        pads = (pad_hw[0], pad_hw[0], pad_hw[1], pad_hw[1])
    return ConvGeometry(stride_hw, pads, dilation_hw, groups)


def check_channels(op: str, in_channels: int, weight_shape: Sequence[int], groups: int) -> None:
    """Check that input channels, weight shape and groups agree (forward-convolution layout).

    Args:
        op: the calling function's name, for error messages.
        in_channels: channels of the input the weight is applied to.
        weight_shape: (out_channels, in_channels / groups, kernel height, kernel width).
        groups: number of channel groups.
    """
    out_channels, group_in = weight_shape[0], weight_shape[1]
    if in_channels % groups != 0:
        raise ValueError(f"{op}: input channels {in_channels} are not divisible by groups {groups}")
    if group_in * groups != in_channels:
        raise ValueError(
            f"{op}: input has {in_channels} channels but the weight expects "
            f"{group_in * groups} (weight.shape[1]={group_in} x groups={groups})"
        )
    if out_channels % groups != 0:
        raise ValueError(
            f"{op}: weight.shape[0]={out_channels} is not divisible by groups {groups}"
        )


def check_fits(
    op: str,
    size_hw: Sequence[int],
    kernel_hw: Sequence[int],
    geom: ConvGeometry,
    names: tuple[str, str] = ("height", "width"),
) -> None:
    """Check that the dilated kernel fits inside the padded input.

    Args:
        op: the calling function's name, for error messages.
        size_hw: (height, width) of the input.
        kernel_hw: (height, width) of the kernel.
        geom: the convolution's geometry.
        names: what to call the two dimensions in the message.
    """
    pads = (geom.padding[0] + geom.padding[1], geom.padding[2] + geom.padding[3])
    for name, size, k, d, p in zip(names, size_hw, kernel_hw, geom.dilation, pads, strict=True):
        if size + p < d * (k - 1) + 1:
            padded = f" (padded: {size + p})" if p else ""
            raise ValueError(
                f"{op}: input {name} {size}{padded} is smaller than the dilated kernel "
                f"{name} {d * (k - 1) + 1}"
            )
