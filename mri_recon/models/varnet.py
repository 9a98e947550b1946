"""The End-to-end Variational Network (Sriram et al., 2020), built on this project's U-Net.

Sensitivity maps are estimated once from the auto-calibration lines (:class:`SensitivityModel`);
then each cascade updates the whole multicoil k-space with a soft data-consistency step and a
normalized U-Net working on the coil-combined image::

    k <- k - dc_weight * mask * (k - k_0) - F S NormUnet(S^H F^-1 k)

where F is the centred 2-D FFT, S expands a coil-combined image to coil images with the maps and
S^H combines coil images with the maps' conjugates. The output is the root sum of squares of the
final coil images. Module names and nesting follow ``fastmri.models.VarNet``, so its state dicts
(and fastMRI's published VarNet weights) load with the identity key mapping.
"""

from __future__ import annotations

import inspect
from typing import Any

import fastmri
import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from mri_recon.allocator import release_freed_memory
from mri_recon.models.norm_unet import NormUnet
from mri_recon.models.sensitivity import SensitivityModel


def sens_expand(image: Tensor, sens_maps: Tensor) -> Tensor:
    """S then F: a coil-combined image (N, 1, H, W, 2) to multicoil k-space (N, C, H, W, 2)."""
    return fastmri.fft2c(fastmri.complex_mul(image, sens_maps))


def sens_reduce(kspace: Tensor, sens_maps: Tensor) -> Tensor:
    """F^-1 then S^H, the adjoint of :func:`sens_expand`: multicoil k-space (N, C, H, W, 2) to
    a coil-combined image (N, 1, H, W, 2)."""
    images = fastmri.complex_mul(fastmri.ifft2c(kspace), fastmri.complex_conj(sens_maps))
    return images.sum(dim=1, keepdim=True)


class VarNetBlock(nn.Module):
    """One cascade: soft data consistency plus a learned regulariser in the image domain.

    Args:
        model: the regulariser, complex (N, 1, H, W, 2) -> (N, 1, H, W, 2) (a :class:`NormUnet`).

    Shape:
        - current_kspace, ref_kspace: (N, C, H, W, 2); ref_kspace is the measured k-space.
        - mask: (N, 1, 1, W, 1) bool, the sampled lines.
        - sens_maps: (N, C, H, W, 2).
        - Output: (N, C, H, W, 2), the updated k-space.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.dc_weight = nn.Parameter(torch.ones(1))

    def forward(
        self, current_kspace: Tensor, ref_kspace: Tensor, mask: Tensor, sens_maps: Tensor
    ) -> Tensor:
        soft_dc = torch.where(mask, current_kspace - ref_kspace, 0.0) * self.dc_weight
        model_term = sens_expand(self.model(sens_reduce(current_kspace, sens_maps)), sens_maps)
        return current_kspace - soft_dc - model_term


class VarNet(nn.Module):
    """End-to-end VarNet of ``fastmri.models.VarNet``, on :class:`mri_recon.models.Unet` layers.

    Args:
        num_cascades: number of cascades (data consistency + NormUnet).
        sens_chans: channels of the sensitivity network's first block.
        sens_pools: pooling levels of the sensitivity network.
        chans: channels of each cascade's U-Net's first block.
        pools: pooling levels of each cascade's U-Net.
        mask_center: estimate the sensitivity maps from the auto-calibration lines only.
        conv_impl: ``"scratch"`` (mri_recon.nn's kernels) or ``"aten"`` (torch's) for every conv.
        norm_impl: ``"scratch"`` or ``"aten"`` for every instance norm.
        checkpoint_cascades: during training, keep only each cascade's input k-space and
            recompute the cascade in the backward pass (gradient checkpointing): activation
            memory of one cascade instead of all, for about one more forward pass of time.
        checkpoint_sensitivity: the same for the sensitivity network, whose U-Net runs on every
            coil image (15 at fastMRI's size) and so holds the largest activations of all: it
            runs one coil image at a time, each checkpointed, so that the backward pass
            recomputes one image's activations at a time.

    Shape:
        - masked_kspace: (N, coils, H, W, 2) float32, zeros where not sampled; singlecoil data
          has coils = 1.
        - mask: (N, 1, 1, W, 1), bool (or 0/1), the sampled phase-encode lines.
        - num_low_frequencies: int, (N,) tensor, or ``None``; 0 or ``None`` counts the centre
          lines from the mask.
        - Output: (N, H, W) float32, the root sum of squares of the coil images (uncropped).

    Examples:
        >>> import torch
        >>> from mri_recon.models import VarNet
        >>> net = VarNet(num_cascades=2, sens_chans=4, sens_pools=2, chans=4, pools=2)
        >>> kspace = torch.randn(1, 3, 24, 17, 2)  # 3 coils, odd width
        >>> mask = torch.zeros(1, 1, 1, 17, 1, dtype=torch.bool)
        >>> mask[..., ::2, :] = True
        >>> net(kspace * mask, mask).shape
        torch.Size([1, 24, 17])
        >>> VarNet(**net.config()).chans  # the constructor arguments rebuild it
        4
    """

    def __init__(
        self,
        num_cascades: int = 12,
        sens_chans: int = 8,
        sens_pools: int = 4,
        chans: int = 18,
        pools: int = 4,
        mask_center: bool = True,
        conv_impl: str = "scratch",
        norm_impl: str = "scratch",
        checkpoint_cascades: bool = False,
        checkpoint_sensitivity: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(num_cascades, bool) or not isinstance(num_cascades, int) or num_cascades < 1:
            raise ValueError(f"VarNet: num_cascades must be an integer >= 1, got {num_cascades!r}")
        self.num_cascades, self.sens_chans, self.sens_pools = num_cascades, sens_chans, sens_pools
        self.chans, self.pools, self.mask_center = chans, pools, mask_center
        self.conv_impl, self.norm_impl = conv_impl, norm_impl
        self.checkpoint_cascades = checkpoint_cascades
        self.checkpoint_sensitivity = checkpoint_sensitivity
        impls = dict(conv_impl=conv_impl, norm_impl=norm_impl)
        self.sens_net = SensitivityModel(sens_chans, sens_pools, mask_center=mask_center, **impls)
        self.cascades = nn.ModuleList(
            [VarNetBlock(NormUnet(chans, pools, **impls)) for _ in range(num_cascades)]
        )

    def config(self) -> dict[str, Any]:
        """The constructor arguments: ``VarNet(**net.config())`` builds the same architecture."""
        names = inspect.signature(VarNet.__init__).parameters
        return {name: getattr(self, name) for name in names if name != "self"}

    def forward(
        self,
        masked_kspace: Tensor,
        mask: Tensor,
        num_low_frequencies: int | Tensor | None = None,
    ) -> Tensor:
        shape = tuple(masked_kspace.shape)
        if len(shape) != 5 or shape[-1] != 2:
            raise ValueError(f"VarNet: masked_kspace must be (N, coils, H, W, 2), got {shape}")
        n, width = shape[0], shape[-2]
        if mask.dim() != 5 or mask.shape[0] not in (1, n) or mask.shape[1:] != (1, 1, width, 1):
            raise ValueError(
                f"VarNet: mask must be ({n}, 1, 1, {width}, 1) for k-space {shape}, "
                f"got {tuple(mask.shape)}"
            )
        mask = mask.to(torch.bool)
        recompute = self.training and torch.is_grad_enabled()
        if self.checkpoint_sensitivity and recompute:
            self._release_memory(masked_kspace)
        sens_maps = self.sens_net(
            masked_kspace, mask, num_low_frequencies, self.checkpoint_sensitivity and recompute
        )
        kspace = masked_kspace.clone()
        for cascade in self.cascades:
            if self.checkpoint_cascades and recompute:
                self._release_memory(kspace)
                kspace = checkpoint(
                    cascade, kspace, masked_kspace, mask, sens_maps, use_reentrant=False
                )
            else:
                kspace = cascade(kspace, masked_kspace, mask, sens_maps)
        return fastmri.rss(fastmri.complex_abs(fastmri.ifft2c(kspace)), dim=1)

    @staticmethod
    def _release_memory(data: Tensor) -> None:
        """Before a checkpointed block's forward pass, for ``data`` on a CPU, eagerly: the
        memory its predecessors freed goes back to the system (``mri_recon.allocator``), so that
        the resident set follows the few activations checkpointing keeps."""
        if data.device.type == "cpu" and not torch.compiler.is_compiling():
            release_freed_memory()
