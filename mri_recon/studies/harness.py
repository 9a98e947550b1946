"""What every study shares: its size, its data, the training loop over its runs, its output folder.

The data are held in memory, with the ``demo`` recipe's masks seeded per volume: the training set
is a fixed sum of slice losses, so full-batch gradient descent is well defined. A run spends an
exact budget of slice gradients (a minibatch step on ``b`` slices ``b``, a full-batch step all of
them) and stops, diverged, when its loss turns non-finite or passes ``DIVERGENCE_FACTOR`` times its
first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from fastmri.data.transforms import center_crop
from torch import Tensor, nn
from tqdm import tqdm

from mri_recon import report
from mri_recon.data import SliceDataset, UnetDataTransform, create_mask
from mri_recon.data.fastmri_format import split_dir
from mri_recon.data.io import check_output_folder, check_owned
from mri_recon.data.unet_transform import CLAMP
from mri_recon.data.volume_sampler import volume_indices
from mri_recon.figures import save_plot
from mri_recon.metrics import volume_metrics
from mri_recon.models import Unet
from mri_recon.recipes import recipe_path

STUDY = "study"  # the kind of output (mark) of every file a study writes
DIVERGENCE_FACTOR = 10.0
MASK_KEYS = ("mask_type", "center_fractions", "accelerations")  # read from the demo recipe
UNET = {"num_pool_layers": 3, "num_groups": 4, "conv_impl": "scratch", "norm_impl": "scratch"}


@dataclass(frozen=True)
class Scale:
    """How much a network study uses: ``train_slices`` spread over the training split,
    ``val_volumes`` whole validation volumes, a budget of ``epochs`` passes over the training
    slices per run, ``batch_size`` slices per step, a U-Net of ``chans`` channels, and the ``seed``
    of its weights and of the minibatch order. Each study has a default scale and a quick one."""

    train_slices: int
    val_volumes: int
    epochs: float
    batch_size: int
    chans: int = 8
    seed: int = 0

    def run(self, slices: int) -> RunSettings:
        """The settings of a run of ``epochs`` passes over ``slices`` slices."""
        return RunSettings(round(self.epochs * slices), self.batch_size, seed=self.seed)


@dataclass
class Slices:
    """Slices stacked into tensors: zero-filled ``images`` and ``targets`` normalised by the
    image's mean and standard deviation (unclamped), (N, H, W); those ``means`` and ``stds``,
    (N,); each slice's volume (``fnames``) and that volume's ``max_values`` (0 where absent)."""

    images: Tensor
    targets: Tensor
    means: Tensor
    stds: Tensor
    fnames: list[str]
    max_values: Tensor

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, index: Sequence[int], dtype: torch.dtype = torch.float32) -> Slices:
        """The slices at ``index``, their images and scales in ``dtype``."""
        tensors = [t[index].to(dtype) for t in (self.images, self.targets, self.means, self.stds)]
        return Slices(*tensors, [self.fnames[i] for i in index], self.max_values[index])

    def pair(self, index: Tensor, normalized: bool) -> tuple[Tensor, Tensor]:
        """Network input and target of some slices, (n, 1, H, W) each: normalised and clamped to
        +-6, or (``normalized`` False) the raw magnitudes."""
        image, target = self.images[index, None], self.targets[index, None]
        if normalized:
            return image.clamp(-CLAMP, CLAMP), target.clamp(-CLAMP, CLAMP)
        mean, std = self.means[index, None, None, None], self.stds[index, None, None, None]
        return image * std + mean, target * std + mean

    def raw(self, images: Tensor) -> Tensor:
        """Normalised ``images`` of these slices, (N, H, W), back in their own units."""
        return images * self.stds[:, None, None] + self.means[:, None, None]


@dataclass
class StudyData:
    """The training slices and every slice of the validation volumes a network study uses."""

    root: Path
    challenge: str
    train: Slices
    val: Slices

    def describe(self) -> str:
        """One line: where the data come from and how much of them is used."""
        return (
            f"{self.challenge} data in {self.root}: "
            f"{counted(len(self.train), 'training slice')}, "
            f"{counted(len(self.val), 'validation slice')} of "
            f"{counted(len(set(self.val.fnames)), 'volume')}, "
            + "x".join(str(n) for n in self.train.images.shape[-2:])
        )


def counted(count: float, noun: str) -> str:
    """``count`` and ``noun``, plural unless the count is one: "1 volume", "0.5 epochs"."""
    return f"{count:g} {noun}" + ("" if count == 1 else "s")


def spread(count: int, wanted: int) -> list[int]:
    """``wanted`` indices spread evenly over ``range(count)`` (all of them if fewer)."""
    if wanted >= count:
        return list(range(count))
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, wanted)})


def _read(dataset: SliceDataset, indices: list[int]) -> Slices:
    """Transforms and stacks slices of ``dataset``, cropped to their common centre."""
    samples = [dataset[i] for i in tqdm(indices, desc="reading slices")]
    size = [min(s.image.shape[axis] for s in samples) for axis in (-2, -1)]
    images = torch.stack([center_crop(s.image, size) for s in samples])
    targets = torch.stack([center_crop(s.target, size) for s in samples])
    scales = [torch.tensor([float(getattr(s, k)) for s in samples]) for k in ("mean", "std")]
    maxima = torch.tensor([float(s.max_value) for s in samples])
    return Slices(images, targets, *scales, [s.fname for s in samples], maxima)


def load_study_data(root: Path, challenge: str, slices: int, volumes: int) -> StudyData:
    """Reads ``slices`` training slices and ``volumes`` whole validation volumes of ``challenge``,
    both spread evenly, with the masks of the ``demo`` recipe (``configs/demo.yaml``) fixed per
    volume."""
    masks = yaml.safe_load(recipe_path("demo").read_text())["data"]
    mask = create_mask(*(masks[key] for key in MASK_KEYS))
    transform = UnetDataTransform(challenge, mask_func=mask, use_seed=True, clamp=None)
    train, val = (
        SliceDataset(split_dir(root, challenge, split), challenge, transform=transform)
        for split in ("train", "val")
    )
    groups = list(volume_indices(val).values())
    val_slices = _read(val, [i for v in spread(len(groups), volumes) for i in groups[v]])
    return StudyData(root, challenge, _read(train, spread(len(train), slices)), val_slices)


@dataclass(frozen=True)
class RunSettings:
    """How a run spends its ``budget`` of slice gradients: ``batch_size`` slices per step (and per
    chunk of a full-batch step), ``full_batch`` steps on the whole set, ``normalized`` inputs or
    raw magnitudes, ``seed`` of the minibatch order."""

    budget: int
    batch_size: int
    full_batch: bool = False
    normalized: bool = True
    seed: int = 0


@dataclass
class RunRecord:
    """A run step by step (slice gradients spent, the objective on the step's batch, its L1 on
    normalised images, the gradient norm, seconds so far) and its final scores in eval mode
    (``train_loss`` on the training set and ``val``, both None when it diverged)."""

    samples: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    l1: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    diverged: bool = False
    train_loss: float | None = None
    val: dict[str, float] | None = None

    def per_epoch(self, values: list[float], size: int) -> tuple[list[int], list[float]]:
        """The mean of per-step ``values`` over each epoch (``size`` slice gradients), by epoch."""
        epochs = (np.asarray(self.samples) - 1) // size
        done = sorted(set(epochs.tolist()))
        return [e + 1 for e in done], [float(np.mean(np.array(values)[epochs == e])) for e in done]

    def summary(self) -> dict[str, Any]:
        """Steps, slice gradients, seconds, divergence and the final scores (``val_*``)."""
        return {
            "steps": len(self.loss),
            "samples": self.samples[-1] if self.samples else 0,
            "wall_s": round(self.wall_s[-1], 2) if self.wall_s else 0.0,
            "diverged": self.diverged,
            "train_loss": self.train_loss,
        } | {f"val_{k}": v for k, v in (self.val or {}).items()}


def make_unet(chans: int, norm: str = "instance", seed: int = 0) -> Unet:
    """The studies' U-Net (``UNET``: the project's own convolutions and norms) of ``chans``
    channels with ``norm``, and the initial weights of ``seed``."""
    torch.manual_seed(seed)
    return Unet(1, 1, chans=chans, norm=norm, **UNET)


def batch_loss(net: Callable[[Tensor], Tensor], slices: Slices, index: Tensor, normalized: bool):
    """The summed L1 objective of some slices, their summed L1 on normalised images (both carry
    gradients) and their pixel count."""
    x, y = slices.pair(index, normalized)
    error = (net(x) - y).abs()
    l1 = error if normalized else error / slices.stds[index, None, None, None]
    return error.sum(), l1.sum(), error.numel()


def train_run(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: StudyData,
    settings: RunSettings,
    marks: Sequence[int] = (),
    at_mark: Callable[[int], None] = lambda spent: None,
    desc: str = "training",
    score: bool = True,
) -> RunRecord:
    """Trains ``net`` with ``optimizer`` on ``data`` as ``settings`` say (``desc``: the progress
    bar's label), then (``score``) scores it, and returns its record. Once a step has passed one or
    more of ``marks`` (slice-gradient counts, ascending, 0 the start), calls ``at_mark`` with the
    count spent (to score the network, or keep a copy of it)."""
    record, marks, gen = RunRecord(), list(marks), torch.Generator().manual_seed(settings.seed)

    def reached(count: float) -> None:
        if marks and count >= marks[0]:
            at_mark(spent)
        marks[:] = [mark for mark in marks if mark > count]

    n, spent, start = len(data.train), 0, time.perf_counter()
    bar = tqdm(total=settings.budget, desc=desc, unit="slice", leave=False)
    while spent < settings.budget and not record.diverged:
        order = torch.arange(n) if settings.full_batch else torch.randperm(n, generator=gen)
        for index in [order] if settings.full_batch else order.split(settings.batch_size):
            if spent >= settings.budget or record.diverged:
                break
            reached(spent)
            net.train()
            optimizer.zero_grad()
            objective = l1 = 0.0
            for chunk in index.split(settings.batch_size):
                loss_sum, l1_sum, pixels = batch_loss(net, data.train, chunk, settings.normalized)
                per_pixel = pixels * len(index) / len(chunk)
                (loss_sum / per_pixel).backward()
                objective += loss_sum.item() / per_pixel
                l1 += l1_sum.item() / per_pixel
            grads = [p.grad.norm() for p in net.parameters() if p.grad is not None]
            record.grad_norm.append(float(torch.stack(grads).norm()))
            optimizer.step()
            spent += len(index)
            bar.update(len(index))
            record.samples.append(spent)
            record.loss.append(objective)
            record.l1.append(l1)
            record.wall_s.append(time.perf_counter() - start)
            limit = DIVERGENCE_FACTOR * record.loss[0]
            record.diverged = not math.isfinite(objective) or objective > limit
    bar.close()
    if not record.diverged:
        reached(math.inf)
    if score and not record.diverged:
        record.train_loss = full_loss(net, data.train, settings)
        record.val = validate(net, data.val, settings)
    return record


@torch.no_grad()
def full_loss(net: nn.Module, slices: Slices, settings: RunSettings, train: bool = False) -> float:
    """The objective (mean L1, in the run's units) over all ``slices``, in eval mode (``train``:
    in train mode, batch norm normalising each chunk of ``batch_size`` by its own statistics)."""
    net.train(train)
    total = pixels = 0
    for index in torch.arange(len(slices)).split(settings.batch_size):
        loss_sum, _, count = batch_loss(net, slices, index, settings.normalized)
        total, pixels = total + loss_sum.item(), pixels + count
    return total / pixels


@torch.no_grad()
def outputs(net: nn.Module, slices: Slices, settings: RunSettings) -> Tensor:
    """The network's reconstructions of all ``slices`` in their own units, (N, H, W), eval mode."""
    net.eval()
    batches = torch.arange(len(slices)).split(settings.batch_size)
    output = torch.cat([net(slices.pair(index, settings.normalized)[0])[:, 0] for index in batches])
    return slices.raw(output) if settings.normalized else output


def scores(output: Tensor, slices: Slices) -> dict[str, float]:
    """fastMRI's NMSE, PSNR and SSIM of reconstructions ``output`` (N, H, W) per volume (data range
    its ``max``, else its target's maximum), averaged over volumes; ``l1``: the mean L1 on
    normalised images."""
    target, per_volume = slices.raw(slices.targets), []
    for fname in dict.fromkeys(slices.fnames):
        rows = [i for i, name in enumerate(slices.fnames) if name == fname]
        maxval = float(slices.max_values[rows[0]]) or None
        per_volume.append(volume_metrics(target[rows].numpy(), output[rows].numpy(), maxval))
    result = {k: float(np.mean([v[k] for v in per_volume])) for k in ("nmse", "psnr", "ssim")}
    return result | {"l1": float(((output - target).abs() / slices.stds[:, None, None]).mean())}


def validate(net: nn.Module, slices: Slices, settings: RunSettings) -> dict[str, float]:
    """:func:`scores` of the network's reconstructions of ``slices``."""
    return scores(outputs(net, slices, settings), slices)


def zero_filled_scores(slices: Slices) -> dict[str, float]:
    """:func:`scores` of the zero-filled input itself, the baseline every network must beat."""
    return scores(slices.raw(slices.images), slices)


def prepare_output(output_dir: Path, names: Sequence[str], overwrite: bool, data: Path | None):
    """Checks, before any work, the folder a study writes ``names`` to: outside the ``data``
    folder, writable, no file in the way that mri-recon did not write as a study (never replaced),
    no earlier results unless ``overwrite``; raises ValueError or FileExistsError (one line)."""
    check_output_folder(output_dir, "output-dir", inputs=[data])
    existing = check_owned([output_dir / name for name in names], STUDY, "output-dir")
    if existing and not overwrite:
        name = existing[0].name
        raise FileExistsError(f"output-dir: {output_dir} already holds {name} (pass --overwrite)")


def write_files(output_dir: Path, names: Sequence[str], *contents: Any) -> list[str]:
    """Writes each of ``contents`` to its name in ``output_dir`` (checked by
    :func:`prepare_output`), atomically and marked, by suffix: a dict as JSON, ``(rows, columns)``
    as CSV, a matplotlib figure as PNG, else text; returns a ``wrote <path>`` line per file."""
    for name, content in zip(names, contents, strict=True):
        path = output_dir / name
        if path.suffix == ".json":
            report.write_json(path, content, STUDY, overwrite=True)
        elif path.suffix == ".csv":
            report.write_csv(path, *content, STUDY, overwrite=True)
        elif path.suffix == ".png":
            save_plot(content, path, STUDY, overwrite=True)
        else:
            report.write_text(path, content, STUDY, overwrite=True)
    return [f"wrote {output_dir / name}" for name in names]


def check(statement: str, passed: bool, detail: str = "") -> dict[str, Any]:
    """One check of a study's numbers against its lesson: ``{statement, passed, detail}``."""
    return {"statement": statement, "passed": bool(passed), "detail": detail}


def format_checks(checks: Sequence[dict[str, Any]]) -> str:
    """``checks:`` and one line per check: ``ok`` or ``FAILED``, the statement, its numbers."""
    lines = ["checks:" if checks else "checks: none"]
    for c in checks:
        detail = f" ({c['detail']})" if c["detail"] else ""
        lines.append(f"  {'ok    ' if c['passed'] else 'FAILED'} {c['statement']}{detail}")
    return "\n".join(lines)


def table(rows: Sequence[dict[str, Any]], spec: str) -> str:
    """``report.format_table`` of ``rows`` under the columns of ``spec``, ``key:format`` pairs
    separated by spaces (``lr:g best``; no format: ``str``); None shows as ``-``."""
    pairs = [(column + ":").split(":")[:2] for column in spec.split()]
    cells = [[None if r.get(k) is None else format(r[k], f) for k, f in pairs] for r in rows]
    return report.format_table([key for key, _ in pairs], cells)
