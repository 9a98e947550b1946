"""The normalization study: the U-Net's normalization layers, input normalization, batch size.

Every variant trains the same U-Net architecture from the same seed with the project's Adam
for the same budget of slice gradients, and differs in one thing:

- the norm after each convolution: none, batch, instance (fastMRI's), group or layer norm;
- input normalization off: the network sees raw magnitudes and is trained against raw targets,
  instead of images and targets scaled by each input's mean and standard deviation;
- batches of 1 instead of 8: batch norm then normalises each image by its own statistics while
  training (what instance norm does) but by running averages at evaluation.

Curves are the training L1 on normalised images (comparable between all variants, whatever
their objective) and the gradient norm; scores are fastMRI's validation SSIM, PSNR and NMSE.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from tqdm import tqdm

from mri_recon.optim import Adam
from mri_recon.studies.data import StudyData
from mri_recon.studies.loop import RunRecord, RunSettings, make_unet, train_run
from mri_recon.studies.output import check

SAME_TRAINING = 1e-5  # relative difference of step losses that still counts as the same run


@dataclass(frozen=True)
class Variant:
    """One training setup of the study.

    Attributes:
        name: short name (table and file key).
        norm: the U-Net's ``norm``.
        batch_size: slices per step.
        normalized: input normalization on.
    """

    name: str
    norm: str
    batch_size: int = 8
    normalized: bool = True

    @property
    def label(self) -> str:
        """The name shown in plots."""
        extra = [] if self.normalized else ["raw input"]
        extra += [] if self.batch_size == 8 else [f"batch {self.batch_size}"]
        return self.norm + (f" ({', '.join(extra)})" if extra else "")


VARIANTS = (
    Variant("none", "none"),
    Variant("batch", "batch"),
    Variant("instance", "instance"),
    Variant("group", "group"),
    Variant("layer", "layer"),
    Variant("none-raw", "none", normalized=False),
    Variant("instance-raw", "instance", normalized=False),
    Variant("batch-b1", "batch", batch_size=1),
    Variant("instance-b1", "instance", batch_size=1),
)


@dataclass(frozen=True)
class NormalizationStudy:
    """The study's settings.

    Attributes:
        run: budget, seed and validation points shared by every variant (batch size and input
            normalization are the variant's).
        lr: Adam's learning rate.
        chans: channels of the U-Net's first level.
        num_pool_layers: the U-Net's depth.
        num_groups: groups of group norm.
        variants: the setups trained.
    """

    run: RunSettings
    lr: float = 1e-2
    chans: int = 8
    num_pool_layers: int = 3
    num_groups: int = 4
    variants: tuple[Variant, ...] = VARIANTS


def run_study(study: NormalizationStudy, data: StudyData) -> dict[str, RunRecord]:
    """Trains one U-Net per variant.

    Args:
        study: the settings.
        data: the slices.

    Returns:
        The record of each variant, by name.
    """
    records = {}
    for variant in tqdm(study.variants, desc="normalization runs", unit="run"):
        net = make_unet(
            study.chans, study.num_pool_layers, variant.norm, study.run.seed, study.num_groups
        )
        settings = replace(study.run, batch_size=variant.batch_size, normalized=variant.normalized)
        optimizer = Adam(net.parameters(), lr=study.lr)
        records[variant.name] = train_run(net, optimizer, data, settings, desc=variant.name)
    return records


def result_rows(
    study: NormalizationStudy, records: dict[str, RunRecord], size: int
) -> list[dict[str, Any]]:
    """The study's table.

    Args:
        study: the settings (the variants, in order).
        records: the runs by variant name.
        size: slices in the training set.

    Returns:
        One row per variant: its setup and its final numbers, with the mean training L1 of the
        last epoch (train mode, normalised images: comparable between all variants).
    """
    rows = []
    for variant in study.variants:
        record = records[variant.name]
        setup = {
            "variant": variant.name,
            "norm": variant.norm,
            "batch_size": variant.batch_size,
            "input_normalized": variant.normalized,
        }
        last_epoch_l1 = record.per_epoch(record.l1, size)[1][-1]
        rows.append({**setup, **record.summary(), "last_epoch_l1": last_epoch_l1})
    return rows


def batch_of_one_checks(
    study: NormalizationStudy, records: dict[str, RunRecord]
) -> list[dict[str, Any]]:
    """Batch norm on batches of 1 normalises each image by its own statistics while training,
    which is instance norm: the two runs must take the same steps (checked when both ran).

    Args:
        study: the settings (the variants).
        records: the runs by variant name.

    Returns:
        One check per such pair of variants (none when the study has no pair).
    """
    checks = []
    for batch in study.variants:
        if batch.norm != "batch" or batch.batch_size != 1:
            continue
        pairs = [
            v
            for v in study.variants
            if v.norm == "instance" and v.batch_size == 1 and v.normalized == batch.normalized
        ]
        if not pairs:
            continue
        ours, theirs = records[batch.name].loss, records[pairs[0].name].loss
        gap = max(abs(a - b) / abs(b) for a, b in zip(ours, theirs))
        checks.append(
            check(
                f"{batch.name} trains exactly as {pairs[0].name} (batch norm of one image is "
                "instance norm)",
                len(ours) == len(theirs) and gap <= SAME_TRAINING,
                f"largest relative difference of the step losses {gap:.1e}",
            )
        )
    return checks
