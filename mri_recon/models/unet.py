"""fastMRI's U-Net, built from the from-scratch layers of :mod:`mri_recon.nn`.

The architecture, module names and nesting follow ``fastmri.models.Unet``, so its state dicts
(and fastMRI's published weights) load with the identity key mapping
(:mod:`mri_recon.models.fastmri_weights`). On top of it: a choice of normalization layer, the
from-scratch or aten kernels for convolutions and norms, and channels-last memory format.
"""

from __future__ import annotations

import inspect
import numbers
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mri_recon.nn import BatchNorm2d, Conv2d, ConvTranspose2d, GroupNorm, InstanceNorm2d
from mri_recon.nn.impl import check_impl

NORMS = ("instance", "group", "batch", "layer", "none")


def make_norm(norm: str, channels: int, num_groups: int, impl: str) -> nn.Module:
    """A normalization layer without affine parameters over ``channels`` channels.

    Args:
        norm: one of :data:`NORMS`; ``"layer"`` is GroupNorm(1, C): statistics per sample over
            (C, H, W).
        channels: number of channels C.
        num_groups: groups of ``"group"`` (must divide C).
        impl: ``"scratch"`` or ``"aten"``.

    Returns:
        The layer (``nn.Identity`` for ``"none"``).
    """
    if norm == "instance":
        return InstanceNorm2d(channels, affine=False, impl=impl)
    if norm == "group":
        return GroupNorm(num_groups, channels, affine=False, impl=impl)
    if norm == "batch":
        return BatchNorm2d(channels, affine=False, impl=impl)
    if norm == "layer":
        return GroupNorm(1, channels, affine=False, impl=impl)
    return nn.Identity()


class ConvBlock(nn.Module):
    """Two [3x3 conv (no bias) -> norm -> LeakyReLU(0.2) -> Dropout2d] layers.

    Args:
        in_chans: input channels.
        out_chans: output channels.
        drop_prob: dropout probability (whole channels).
        norm, num_groups, conv_impl, norm_impl: as :class:`Unet`.

    Shape:
        - Input: (N, in_chans, H, W)
        - Output: (N, out_chans, H, W)
    """

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        drop_prob: float,
        norm: str,
        num_groups: int,
        conv_impl: str,
        norm_impl: str,
    ) -> None:
        super().__init__()
        self.in_chans, self.out_chans, self.drop_prob = in_chans, out_chans, drop_prob
        layers: list[nn.Module] = []
        for chans in (in_chans, out_chans):
            layers += [
                Conv2d(chans, out_chans, kernel_size=3, padding=1, bias=False, impl=conv_impl),
                make_norm(norm, out_chans, num_groups, norm_impl),
                nn.LeakyReLU(negative_slope=0.2, inplace=True),
                nn.Dropout2d(drop_prob),
            ]
        self.layers = nn.Sequential(*layers)

    def forward(self, image: Tensor) -> Tensor:
        return self.layers(image)


class TransposeConvBlock(nn.Module):
    """2x2 stride-2 transposed conv (no bias) -> norm -> LeakyReLU(0.2): doubles H and W.

    Args:
        in_chans: input channels.
        out_chans: output channels.
        norm, num_groups, conv_impl, norm_impl: as :class:`Unet`.

    Shape:
        - Input: (N, in_chans, H, W)
        - Output: (N, out_chans, 2 H, 2 W)
    """

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        norm: str,
        num_groups: int,
        conv_impl: str,
        norm_impl: str,
    ) -> None:
        super().__init__()
        self.in_chans, self.out_chans = in_chans, out_chans
        self.layers = nn.Sequential(
            ConvTranspose2d(
                in_chans, out_chans, kernel_size=2, stride=2, bias=False, impl=conv_impl
            ),
            make_norm(norm, out_chans, num_groups, norm_impl),
            nn.LeakyReLU(negative_slope=0.2, inplace=True),
        )

    def forward(self, image: Tensor) -> Tensor:
        return self.layers(image)


def _check_args(**kwargs: object) -> None:
    """One-line ValueErrors naming the first bad argument of :class:`Unet`."""
    for name in ("in_chans", "out_chans", "chans", "num_pool_layers", "num_groups"):
        value = kwargs[name]
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"Unet: {name} must be an integer >= 1, got {value!r}")
    drop_prob = kwargs["drop_prob"]
    if not isinstance(drop_prob, numbers.Real) or not 0.0 <= drop_prob < 1.0:
        raise ValueError(f"Unet: drop_prob must be in [0, 1), got {drop_prob!r}")
    if kwargs["norm"] not in NORMS:
        raise ValueError(f"Unet: norm must be one of {NORMS}, got {kwargs['norm']!r}")
    for name in ("conv_impl", "norm_impl"):
        check_impl(kwargs[name], name, owner="Unet")
    if kwargs["norm"] == "group" and kwargs["chans"] % kwargs["num_groups"] != 0:
        raise ValueError(
            f"Unet: num_groups={kwargs['num_groups']} must divide chans={kwargs['chans']} "
            "(and so every normalized channel count) for norm='group'"
        )


class Unet(nn.Module):
    """U-Net of fastMRI (Ronneberger et al. 2015, as in ``fastmri.models.Unet``).

    ``num_pool_layers`` levels down (ConvBlock, then 2x2 average pooling; channels chans,
    2 chans, ...), a ConvBlock at the bottom, and as many levels up (TransposeConvBlock, a
    one-pixel reflect pad at the bottom/right where the skip connection is one larger, concat
    with the skip, ConvBlock); a 1x1 conv with bias maps the last block to ``out_chans``.

    Args:
        in_chans: channels of the input.
        out_chans: channels of the output.
        chans: channels of the first ConvBlock (doubled at each level down).
        num_pool_layers: number of pooling (and upsampling) levels.
        drop_prob: Dropout2d probability after each conv layer of a ConvBlock, in [0, 1).
        norm: normalization after each conv, all without affine parameters: ``"instance"``
            (fastMRI's), ``"group"`` (GroupNorm(num_groups, C)), ``"batch"`` (BatchNorm2d with
            running statistics), ``"layer"`` (layer norm over (C, H, W) of each sample, i.e.
            GroupNorm(1, C)) or ``"none"``.
        num_groups: groups of ``norm="group"``; must divide ``chans``.
        conv_impl: ``"scratch"`` (mri_recon.nn's kernels) or ``"aten"`` (torch's) for the convs.
        norm_impl: ``"scratch"`` or ``"aten"`` for the norms.
        channels_last: keep parameters and activations in ``torch.channels_last`` memory format
            (parameters converted here; ``.to(device)`` keeps the format). Same output values.

    Shape:
        - Input: (N, in_chans, H, W), any H, W >= 2 ** num_pool_layers (odd sizes ok); with
          ``norm="instance"`` the bottom level (H // 2**L, W // 2**L) needs two pixels or more.
        - Output: (N, out_chans, H, W).

    Examples:
        >>> import torch
        >>> from mri_recon.models import Unet
        >>> net = Unet(in_chans=1, out_chans=1, chans=8, num_pool_layers=2)
        >>> net(torch.randn(2, 1, 33, 20)).shape  # odd sizes are fine
        torch.Size([2, 1, 33, 20])
        >>> Unet(**net.config()).chans  # the constructor arguments rebuild it
        8
    """

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        chans: int = 32,
        num_pool_layers: int = 4,
        drop_prob: float = 0.0,
        norm: str = "instance",
        num_groups: int = 8,
        conv_impl: str = "scratch",
        norm_impl: str = "scratch",
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        _check_args(
            in_chans=in_chans, out_chans=out_chans, chans=chans, num_pool_layers=num_pool_layers,
            drop_prob=drop_prob, norm=norm, num_groups=num_groups, conv_impl=conv_impl,
            norm_impl=norm_impl,
        )  # fmt: skip
        self.in_chans, self.out_chans, self.chans = in_chans, out_chans, chans
        self.num_pool_layers, self.drop_prob, self.norm = num_pool_layers, drop_prob, norm
        self.num_groups, self.conv_impl, self.norm_impl = num_groups, conv_impl, norm_impl
        self.channels_last = channels_last
        layer = dict(norm=norm, num_groups=num_groups, conv_impl=conv_impl, norm_impl=norm_impl)
        self.down_sample_layers = nn.ModuleList([ConvBlock(in_chans, chans, drop_prob, **layer)])
        ch = chans
        for _ in range(num_pool_layers - 1):
            self.down_sample_layers.append(ConvBlock(ch, ch * 2, drop_prob, **layer))
            ch *= 2
        self.conv = ConvBlock(ch, ch * 2, drop_prob, **layer)
        self.up_conv = nn.ModuleList()
        self.up_transpose_conv = nn.ModuleList()
        for _ in range(num_pool_layers - 1):
            self.up_transpose_conv.append(TransposeConvBlock(ch * 2, ch, **layer))
            self.up_conv.append(ConvBlock(ch * 2, ch, drop_prob, **layer))
            ch //= 2
        self.up_transpose_conv.append(TransposeConvBlock(ch * 2, ch, **layer))
        self.up_conv.append(
            nn.Sequential(
                ConvBlock(ch * 2, ch, drop_prob, **layer),
                Conv2d(ch, out_chans, kernel_size=1, stride=1, impl=conv_impl),
            )
        )
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def config(self) -> dict[str, Any]:
        """The constructor arguments: ``Unet(**net.config())`` builds the same architecture."""
        names = inspect.signature(Unet.__init__).parameters
        return {name: getattr(self, name) for name in names if name != "self"}

    def check_size(self, height: int, width: int) -> None:
        """Checks that a ``height`` x ``width`` image can pass through the pooling levels.

        Raises:
            ValueError: a side below ``2 ** num_pool_layers``, or a bottom level of one pixel
                under instance norm.
        """
        least = 2**self.num_pool_layers
        if min(height, width) < least:
            raise ValueError(
                f"Unet: image height and width must be at least 2 ** num_pool_layers = {least}, "
                f"got {(height, width)}"
            )
        if self.norm == "instance" and (height // least) * (width // least) < 2:
            raise ValueError(
                f"Unet: image {(height, width)} leaves one pixel at the bottom level, where "
                "instance norm needs at least two"
            )

    def forward(self, image: Tensor) -> Tensor:
        if image.dim() != 4 or image.shape[1] != self.in_chans:
            raise ValueError(
                f"Unet: image must be (N, {self.in_chans}, H, W), got {tuple(image.shape)}"
            )
        self.check_size(*image.shape[-2:])
        if self.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        skips = []
        output = image
        for layer in self.down_sample_layers:
            output = layer(output)  # (N, chans * 2**level, H / 2**level, W / 2**level)
            skips.append(output)
            output = F.avg_pool2d(output, kernel_size=2, stride=2, padding=0)
        output = self.conv(output)
        for transpose_conv, conv in zip(self.up_transpose_conv, self.up_conv):
            skip = skips.pop()
            output = transpose_conv(output)  # 2 * floor(size / 2): the skip's size or one less
            pad_bottom = skip.shape[-2] - output.shape[-2]
            pad_right = skip.shape[-1] - output.shape[-1]
            if pad_bottom or pad_right:
                output = F.pad(output, [0, pad_right, 0, pad_bottom], mode="reflect")
            output = conv(torch.cat([output, skip], dim=1))
        return output
