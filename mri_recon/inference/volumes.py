"""The volume loop: a trained network over whole volumes, the core of ``reconstruct``,
``evaluate --checkpoint`` and the demo.

Slices are read and pre-processed exactly as validation does (``UnetDataTransform`` with masks
seeded per file; test files keep their stored mask), the network's output is un-normalised
(``UnetSample.unnormalize``) and the slices are stacked back into volumes. The zero-filled
baseline comes along for free: it is the un-normalised, unclipped network input. The network
runs in the run's precision (``mri_recon.precision``), on torch's kernels whichever layers it
was trained with (``inference_net``); its output is float32 either way.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from mri_recon.data.masks import create_mask
from mri_recon.data.slice_dataset import SliceDataset
from mri_recon.data.transforms import CLAMP, UnetDataTransform
from mri_recon.data.volume_sampler import volume_indices
from mri_recon.nn.impl import set_impl
from mri_recon.options import MaskSettings
from mri_recon.precision import inference_autocast


def inference_transform(challenge: str, mask: MaskSettings | None) -> UnetDataTransform:
    """Pre-processing for inference: masks seeded per file as validation does (``None``: the
    k-space as stored), no clipping (the network's input is clipped separately)."""
    mask_func = None
    if mask is not None:
        mask_func = create_mask(mask.mask_type, mask.center_fractions, mask.accelerations)
    return UnetDataTransform(challenge, mask_func=mask_func, use_seed=True, clamp=None)


def volume_dataset(
    data_path: str | Path,
    challenge: str,
    mask: MaskSettings | None,
    files: Iterable[str] | None = None,
) -> SliceDataset:
    """The slices of ``data_path`` (only ``files``, by name, when given), pre-processed for
    inference (``inference_transform``)."""
    transform = inference_transform(challenge, mask)
    dataset = SliceDataset(data_path, challenge, transform=transform, use_dataset_cache=False)
    if files is not None:
        names = set(files)
        dataset.raw_samples = [s for s in dataset.raw_samples if s.fname.name in names]
    return dataset


@dataclass
class VolumeResult:
    """One volume's reconstruction and zero-filled image, (slices, H, W) float32, in slice order."""

    fname: str
    reconstruction: np.ndarray
    zero_filled: np.ndarray


def _stack(slices: dict[int, np.ndarray]) -> np.ndarray:
    return np.stack([slices[i] for i in sorted(slices)]).astype(np.float32)


def volume_batches(volumes: dict[str, list[int]], batch_size: int) -> list[list[int]]:
    """The indices of each volume (``volume_indices``) in batches of at most ``batch_size``, so
    that volumes of different sizes, or with and without a target, never share a batch."""
    return [
        indices[start : start + batch_size]
        for indices in volumes.values()
        for start in range(0, len(indices), batch_size)
    ]


def inference_net(net: nn.Module, device: torch.device) -> nn.Module:
    """``net`` ready for the volume loop: on ``device``, in eval mode, and with torch's (aten)
    kernels in every ``mri_recon.nn`` layer. The from-scratch layers compute the same outputs
    (tested) more slowly, and inference needs none of their hand-written gradients."""
    return set_impl(net.to(device).eval(), "aten")


def run_network(net: nn.Module, image: Tensor, device: torch.device, precision: str) -> Tensor:
    """The network on a batch of normalised images, as the volume loop runs it.

    Args:
        net: the network, from ``inference_net``.
        image: (batch, H, W) normalised zero-filled images, on the CPU.
        device: where the network runs.
        precision: ``bf16`` (autocast) or ``32``.

    Returns:
        (batch, H, W) float32 output on the CPU, still normalised.
    """
    image = image.clamp(-CLAMP, CLAMP).unsqueeze(1).to(device)
    with torch.inference_mode(), inference_autocast(precision, device):
        output = net(image)
    return output.squeeze(1).float().cpu()


def reconstruct_volumes(
    net: nn.Module | None,
    dataset: SliceDataset,
    device: torch.device,
    batch_size: int = 8,
    num_workers: int = 0,
    progress: bool = True,
    precision: str = "32",
) -> Iterator[VolumeResult]:
    """Yields each volume of ``dataset`` as soon as its last slice is done.

    Args:
        net: the trained network (``inference_net`` readies it); ``None`` gives zero-filled only
            (``reconstruction`` is then the zero-filled image too).
        dataset: from ``volume_dataset``; slices of a volume are consecutive.
        device: where the network runs.
        batch_size: the most slices per forward pass (a batch never spans two volumes).
        num_workers: DataLoader worker processes reading and transforming slices.
        progress: show a progress bar over slices.
        precision: the network's precision, ``bf16`` or ``32`` (resolved, see
            ``mri_recon.precision``).
    """
    if net is not None:
        net = inference_net(net, device)
    indices = volume_indices(dataset)
    loader = DataLoader(
        dataset, batch_sampler=volume_batches(indices, batch_size), num_workers=num_workers
    )
    counts = {Path(path).name: len(slices) for path, slices in indices.items()}
    volumes: dict[str, tuple[dict[int, np.ndarray], dict[int, np.ndarray]]] = {}
    with tqdm(total=len(dataset), unit="slice", disable=not progress) as bar:
        for batch in loader:
            zero_filled = batch.unnormalize(batch.image)
            output = zero_filled
            if net is not None:
                try:
                    output = batch.unnormalize(run_network(net, batch.image, device, precision))
                except ValueError as error:  # e.g. an image too small for the network's pooling
                    raise ValueError(f"{batch.fname[0]}: {error}") from None
            for i, fname in enumerate(batch.fname):
                recon, zf = volumes.setdefault(fname, ({}, {}))
                recon[int(batch.slice_num[i])] = output[i].numpy()
                zf[int(batch.slice_num[i])] = zero_filled[i].numpy()
                if len(recon) == counts[fname]:
                    bar.set_postfix_str(fname)
                    del volumes[fname]
                    yield VolumeResult(fname, _stack(recon), _stack(zf))
            bar.update(len(batch.fname))
