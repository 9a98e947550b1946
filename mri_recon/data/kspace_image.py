"""Undersampled k-space to the U-Net's input image in as few operations as the result needs.

The plain path, as fastMRI writes it (``UnetDataTransform(fast=False)``): multiply the whole
k-space by the mask, ``fastmri.ifft2c`` (shift, 2D inverse FFT, shift), crop the centre,
magnitude, root-sum-of-squares over the coils. This module computes the same image with less
work, using only that the 2D transform is two 1D ones and that a centred crop keeps only some of
their outputs:

1. Only the sampled phase-encode columns are non-zero, so only they are gathered and
   transformed along the readout (rows); the mask multiplication disappears.
2. Only the rows the crop keeps are transformed along the phase-encode direction (columns).
3. The shifts of the centred FFT are index arithmetic: ``ifftshift`` places the gathered columns
   (and permutes the rows) before each transform, ``fftshift`` followed by the crop selects
   outputs.
4. Magnitude and RSS are one sum of squares over real and imaginary parts and coils.

For fastMRI's 15 x 640 x 368 multicoil slices at 4x this does about a third of the FFT work and
skips the full-size copies; the measured effect is in docs/benchmarks.md. The result equals the
plain path to float32 rounding (tested), not bit for bit: the sums run in another order.
Every function works on a batch too (leading dimensions), on any device.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _centred_ifft(
    x: Tensor, dim: int, full: int, keep: tuple[int, int], positions: Tensor | None = None
) -> Tensor:
    """``crop(fftshift(ifft(ifftshift(z))))`` along ``dim`` of a zero-padded ``z``.

    Args:
        x: complex input, holding along ``dim`` the entries of ``z`` at ``positions`` (all of
            them, in order, when ``None``); every other entry of ``z`` is zero.
        dim: the dimension transformed (negative).
        full: the length of ``z`` along ``dim``.
        keep: (first, stop) of the centred output kept along ``dim``.
        positions: the indices in ``z`` of the entries ``x`` holds.

    Returns:
        The kept outputs, ``stop - first`` long along ``dim`` (orthonormal scaling).
    """
    # ifftshift(z)[i] = z[(i + full // 2) % full]: entry p of z lands at (p - full // 2) % full.
    index = torch.arange(full, device=x.device) if positions is None else positions
    shifted = (index - full // 2) % full
    if positions is None:
        z = x.index_select(dim, torch.argsort(shifted))
    else:
        shape = list(x.shape)
        shape[dim] = full
        z = x.new_zeros(shape).index_copy_(dim, shifted, x)
    y = torch.fft.ifft(z, dim=dim, norm="ortho")
    # fftshift(y)[i] = y[(i - full // 2) % full] for the kept i.
    kept = (torch.arange(*keep, device=x.device) - full // 2) % full
    return y.index_select(dim, kept)


def sampled_columns(mask: Tensor) -> Tensor:
    """The indices of the phase-encode columns a fastmri mask (``(..., cols, 1)``) samples."""
    return mask.reshape(-1).nonzero().reshape(-1)


def centre_window(full: int, size: int) -> tuple[int, int]:
    """(first, stop) of a centred crop of ``size`` out of ``full``, as fastmri crops."""
    first = (full - size) // 2
    return first, first + size


def image_from_kspace(
    kspace: Tensor,
    size: tuple[int, int],
    columns: Tensor | None = None,
    coil_dim: int | None = None,
) -> Tensor:
    """The magnitude image (RSS over coils) of complex k-space, centre-cropped to ``size``.

    Args:
        kspace: complex k-space, (..., rows, cols); columns not in ``columns`` are taken as
            zero whatever they hold (the mask is applied here).
        size: (height, width) of the crop.
        columns: indices of the sampled columns; ``None``: all (a stored, already masked
            k-space).
        coil_dim: the coil dimension to combine by root-sum-of-squares (negative, before
            rows); ``None`` for single-coil data.

    Returns:
        (..., height, width) float image, without the coil dimension when combined.
    """
    rows, cols = kspace.shape[-2:]
    if columns is not None:
        kspace = kspace.index_select(-1, columns)
    image = _centred_ifft(kspace, -2, rows, centre_window(rows, size[0]))
    image = _centred_ifft(image, -1, cols, centre_window(cols, size[1]), columns)
    power = torch.view_as_real(image).square().sum(-1)
    if coil_dim is not None:
        power = power.sum(coil_dim)
    return power.sqrt()
