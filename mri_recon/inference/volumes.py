"""The volume loop: a trained network over whole volumes, the core of ``reconstruct``,
``evaluate --checkpoint`` and the demo.

Slices are read and pre-processed exactly as validation does (the network's transform, U-Net or
VarNet, with masks seeded per file; test files keep their stored mask), the network's output is
un-normalised (``unnormalize``: the U-Net's ``* std + mean``, the VarNet's as it is) and the
slices are stacked back into volumes. The zero-filled baseline comes along for free: the
un-normalised, unclipped U-Net input, or the coil combination of the VarNet's masked k-space.
The compressed-sensing baseline (``CompressedSensing``) runs through the same loop in place of a
network, on VarNet samples (the masked k-space), with the same masks.
The network runs in the run's precision (``mri_recon.precision``), on torch's kernels whichever
layers it was trained with (``inference_net``); its output is float32 either way.

A volume with a bad slice (unreadable, or NaN or infinite values in its k-space, mask or target,
or in the network's output) fails alone: it comes out as a ``VolumeFailure`` naming the slice, and
the loop goes on with the next volume.
"""

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, default_collate
from tqdm import tqdm

from mri_recon.data.file_check import BadFileError
from mri_recon.data.masks import check_mask_widths, create_mask
from mri_recon.data.slice_dataset import SliceDataset
from mri_recon.data.unet_transform import CLAMP, UnetSample
from mri_recon.data.varnet_transform import VarNetDataTransform
from mri_recon.data.volume_sampler import volume_indices
from mri_recon.inference.compressed_sensing import CompressedSensing
from mri_recon.models.compiled import Compiled
from mri_recon.models.registry import network_output, sample_transform, unusable_files
from mri_recon.nn.impl import set_impl
from mri_recon.options import MaskSettings
from mri_recon.precision import (
    inference_autocast,
    inference_calls,
    inference_pays,
    inference_weights_format,
    resolve_compile,
)

Method = nn.Module | CompressedSensing  # what the volume loop runs: a network or the CS baseline


def inference_transform(
    challenge: str, mask: MaskSettings | None, net: Method | None = None
) -> Any:
    """Pre-processing for inference with ``net`` (U-Net samples for ``None``, VarNet samples for
    the CS baseline): masks seeded per file as validation does (``None``: the k-space as stored),
    no clipping (the U-Net's input is clipped separately)."""
    mask_func = None
    if mask is not None:
        mask_func = create_mask(mask.mask_type, mask.center_fractions, mask.accelerations)
    if isinstance(net, CompressedSensing):
        return VarNetDataTransform(challenge, mask_func=mask_func, use_seed=True)
    return sample_transform(net, challenge, mask_func, use_seed=True, clamp=None)


def volume_dataset(
    data_path: str | Path,
    challenge: str,
    mask: MaskSettings | None,
    files: Iterable[str] | None = None,
    skip_bad_files: bool = False,
    net: Method | None = None,
) -> SliceDataset:
    """The slices of ``data_path`` (only ``files``, by name, when given), pre-processed for
    inference (``inference_transform``), with the mask settings checked against each k-space
    width before any work.

    Args:
        data_path: folder of ``.h5`` volumes.
        challenge: ``singlecoil`` or ``multicoil``.
        mask: how files without a stored mask are undersampled; ``None``: as stored.
        files: the names of the files to keep; all by default.
        skip_bad_files: leave out (with a warning, listed in ``skipped_files``) the files that
            fail the file check instead of raising ``BadFileError``.
        net: the network (or CS baseline) the samples are for (``None``: U-Net samples).
    """
    transform = inference_transform(challenge, mask, net)
    dataset = SliceDataset(data_path, challenge, transform=transform, skip_bad_files=skip_bad_files)
    if files is not None:
        names = set(files)
        dataset.raw_samples = [s for s in dataset.raw_samples if s.fname.name in names]
        dataset.layouts = {f: layout for f, layout in dataset.layouts.items() if f.name in names}
    if mask is not None:
        widths = dataset.unmasked_widths()
        check_mask_widths(mask.mask_type, mask.center_fractions, mask.accelerations, widths)
        if isinstance(net, CompressedSensing):
            net.check_masks(mask, widths)
    if isinstance(net, nn.Module):
        dataset.leave_out(unusable_files(net, dataset))
    return dataset


@dataclass
class VolumeResult:
    """One volume's reconstruction and zero-filled image, (slices, H, W) float32, in slice order."""

    fname: str
    reconstruction: np.ndarray
    zero_filled: np.ndarray


@dataclass
class VolumeFailure:
    """A volume that could not be reconstructed: its file name and the problem (naming the
    slice)."""

    fname: str
    problem: str

    def __str__(self) -> str:
        return f"{self.fname}: {self.problem}"


@dataclass
class _BadSlice:
    """A slice that could not be read (in place of its sample in a batch)."""

    fname: str
    problem: str


@dataclass
class _Batch:
    """The readable slices of a batch, collated (``None`` when there are none), and the bad
    ones."""

    good: Any
    bad: list[_BadSlice]


class _SlicesOrFailures(Dataset):
    """A ``SliceDataset`` whose bad slices come out as ``_BadSlice`` instead of raising, so that
    one bad volume does not end the loop (or kill a DataLoader worker's batch)."""

    def __init__(self, dataset: SliceDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        try:
            return self.dataset.load(index)
        except BadFileError as error:
            return _BadSlice(self.dataset.raw_samples[index].fname.name, error.problem)


def _collate(items: list[Any]) -> _Batch:
    """The batch's good slices collated, its bad ones apart (each fails its own volume)."""
    bad = [item for item in items if isinstance(item, _BadSlice)]
    good = [item for item in items if not isinstance(item, _BadSlice)]
    return _Batch(default_collate(good) if good else None, bad)


def _stack(slices: dict[int, np.ndarray]) -> np.ndarray:
    return np.stack([slices[i] for i in sorted(slices)]).astype(np.float32)


def inference_net(net: nn.Module, device: torch.device) -> nn.Module:
    """``net`` ready for the volume loop: on ``device``, in eval mode, and with torch's (aten)
    kernels in every ``mri_recon.nn`` layer. The from-scratch layers compute the same outputs
    (tested) more slowly, and inference needs none of their hand-written gradients."""
    return set_impl(net.to(device).eval(), "aten")


def compiled_inference_net(
    net: nn.Module, device: torch.device, batch_size: int | None = None
) -> Compiled:
    """``net`` (from ``inference_net``) compiled for the volume loop's batches of
    ``batch_size`` (smaller ones run eagerly), its weights in the memory format compiled
    inference runs fastest with on ``device``."""
    weights_format = inference_weights_format(device)
    return Compiled(net, "inference", weights_format=weights_format, batch_size=batch_size)


def run_network(
    net: nn.Module,
    image: Tensor,
    device: torch.device,
    precision: str,
    call: Compiled | None = None,
) -> Tensor:
    """The network on a batch of normalised images, as the volume loop runs it.

    Args:
        net: the network, from ``inference_net``.
        image: (batch, H, W) normalised zero-filled images, on the CPU.
        device: where the network runs.
        precision: ``bf16`` (autocast) or ``32``.
        call: ``net`` compiled (``mri_recon.models.compiled.Compiled``), or ``None``: eager.

    Returns:
        (batch, H, W) float32 output on the CPU, still normalised.
    """
    image = image.clamp(-CLAMP, CLAMP).unsqueeze(1).to(device)
    with torch.inference_mode(), inference_autocast(precision, device):
        output = (call or net)(image)
    return output.squeeze(1).float().cpu()


def run_batch(
    net: nn.Module,
    batch: Any,
    device: torch.device,
    precision: str,
    call: Compiled | None = None,
) -> Tensor:
    """The network's un-normalised reconstruction of a batch of U-Net or VarNet samples, as the
    volume loop runs it: (batch, H, W) float32 on the CPU.

    Args:
        net: the network, from ``inference_net``.
        batch: ``UnetSample`` (through ``run_network``) or ``VarNetSample`` batch, on the CPU.
        device: where the network runs.
        precision: ``bf16`` (autocast) or ``32``.
        call: ``net`` compiled, or ``None``: eager.
    """
    if isinstance(batch, UnetSample):
        return batch.unnormalize(run_network(net, batch.image, device, precision, call))
    fields = (field.to(device) if isinstance(field, Tensor) else field for field in batch)
    with torch.inference_mode(), inference_autocast(precision, device):
        output = network_output(net, type(batch)(*fields), call)
    return output.float().cpu()


def slice_batches(dataset: SliceDataset, batch_size: int) -> list[list[int]]:
    """The slices of ``dataset`` in batches of ``batch_size`` (the last of each group smaller).

    Volumes whose samples have the same shape (k-space, target or none, stored mask or not,
    image size) form one group, in dataset order, and a group's slices fill whole batches across
    its volumes' ends: a compiled network sees one batch size, and a volume of 3 slices does not
    cost a call of its own. Volumes of different shapes never share a batch.
    """
    sizes = dataset.sample_sizes()
    groups: dict[tuple, list[int]] = {}
    for path, indices in volume_indices(dataset).items():
        layout = dataset.layouts[Path(path)]
        shape = (layout.kspace_shape[1:], layout.target_shape is None, layout.has_mask)
        groups.setdefault((*shape, sizes.get(Path(path))), []).extend(indices)
    return [
        indices[start : start + batch_size]
        for indices in groups.values()
        for start in range(0, len(indices), batch_size)
    ]


def kspace_pixels(dataset: SliceDataset) -> int:
    """Rows times columns of every slice's k-space in ``dataset``, summed."""
    return sum(
        math.prod(dataset.layouts[Path(sample.fname)].kspace_shape[-2:])
        for sample in dataset.raw_samples
    )


def reconstruct_volumes(
    net: Method | None,
    dataset: SliceDataset,
    device: torch.device,
    batch_size: int = 8,
    num_workers: int = 0,
    progress: bool = True,
    precision: str = "32",
    compile: str = "off",
) -> Iterator[VolumeResult | VolumeFailure]:
    """Yields each volume of ``dataset`` as soon as its last slice is done.

    Args:
        net: the trained network (eval mode is set here) or the CS baseline; ``None`` gives
            zero-filled only (``reconstruction`` is then the zero-filled image too).
        dataset: from ``volume_dataset``.
        device: where the network runs.
        batch_size: slices per forward pass (``slice_batches``: a batch may span volumes of
            one shape).
        num_workers: DataLoader worker processes reading and transforming slices.
        progress: show a progress bar over slices.
        precision: the network's precision, ``bf16`` or ``32`` (resolved, see
            ``mri_recon.precision``).
        compile: ``on``, ``off`` or ``auto`` (``mri_recon.precision.resolve_compile``:
            ``inference_pays`` for the run's size, ``inference_calls``). Batches smaller than
            the run's largest (the last of a shape group, or one that lost unreadable slices)
            run eagerly (``Compiled``).

    Yields:
        A ``VolumeResult`` per volume, or a ``VolumeFailure`` for a volume with a bad slice
        (unreadable, or NaN or infinite values in its input or in the network's output).
    """
    batches = slice_batches(dataset, batch_size)
    call = None
    if isinstance(net, nn.Module):
        net = inference_net(net, device)
        calls = inference_calls(len(batches), kspace_pixels(dataset))
        if resolve_compile(compile, device, inference_pays(calls)):
            call = compiled_inference_net(net, device, max(map(len, batches), default=None))
    loader = DataLoader(
        _SlicesOrFailures(dataset),
        batch_sampler=batches,
        num_workers=num_workers,
        collate_fn=_collate,
    )
    remaining = Counter(dataset.raw_samples[i].fname.name for batch in batches for i in batch)
    volumes: dict[str, tuple[dict[int, np.ndarray], dict[int, np.ndarray]]] = {}
    failed: dict[str, str] = {}
    with tqdm(total=len(dataset), unit="slice", disable=not progress) as bar:
        for batch in loader:
            names = [bad.fname for bad in batch.bad]
            for bad in batch.bad:
                failed.setdefault(bad.fname, bad.problem)
            if batch.good is not None:
                names += batch.good.fname
                _collect(net, batch.good, device, precision, volumes, failed, call)
            bar.update(len(names))
            for fname, count in Counter(names).items():  # each volume of the batch, in order
                remaining[fname] -= count
                if remaining[fname] == 0:
                    bar.set_postfix_str(fname)
                    recon, zero_filled = volumes.pop(fname, ({}, {}))
                    if fname in failed:
                        yield VolumeFailure(fname, failed[fname])
                    else:
                        yield VolumeResult(fname, _stack(recon), _stack(zero_filled))


def _collect(
    net: Method | None,
    batch: Any,
    device: torch.device,
    precision: str,
    volumes: dict[str, tuple[dict[int, np.ndarray], dict[int, np.ndarray]]],
    failed: dict[str, str],
    call: Compiled | None = None,
) -> None:
    """Adds a batch's reconstructions and zero-filled images to their volumes' slices, and marks
    failed the volumes of slices whose output is not finite."""
    zero_filled = batch.zero_filled()
    output = zero_filled
    if net is not None:
        try:
            if isinstance(net, CompressedSensing):
                output = net(batch)
            else:
                output = run_batch(net, batch, device, precision, call)
        except ValueError as error:  # e.g. an image too small for the network's pooling, or
            # a stored mask with too few centre lines for ESPIRiT
            raise ValueError(f"{', '.join(dict.fromkeys(batch.fname))}: {error}") from None
    finite = torch.isfinite(output).flatten(1).all(dim=1)
    for i, (fname, slice_num) in enumerate(zip(batch.fname, batch.slice_num.tolist())):
        if fname in failed:
            continue
        if not finite[i]:
            what = "reconstruction" if net is not None else "zero-filled image"
            failed[fname] = f"slice {slice_num}: the {what} holds NaN or infinite values"
            volumes.pop(fname, None)
            continue
        recon, zero = volumes.setdefault(fname, ({}, {}))
        recon[slice_num] = output[i].numpy()
        zero[slice_num] = zero_filled[i].numpy()
