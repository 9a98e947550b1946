"""The studies' sizes: the defaults (under 10 minutes each on a 2-core CPU with the demo data),
``--quick`` (under a minute) and the command-line overrides of either.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from mri_recon.studies.loop import RunSettings
from mri_recon.studies.network_line import LineSettings
from mri_recon.studies.normalization import NormalizationStudy
from mri_recon.studies.optimizers import OptimizerStudy
from mri_recon.studies.step_size import QuadraticSettings


@dataclass(frozen=True)
class Scale:
    """How much data and training a network study uses.

    Attributes:
        train_slices: training slices, spread over the training split.
        val_volumes: validation volumes, all their slices.
        epochs: the budget of each run, in passes over the training slices.
        batch_size: slices per step (the normalization study's batch-1 variants excepted).
        chans: channels of the U-Net's first level.
        seed: seeds the weights and the minibatch order.
    """

    train_slices: int
    val_volumes: int
    epochs: float
    batch_size: int
    chans: int = 8
    seed: int = 0

    def run(self, slices: int) -> RunSettings:
        """The run settings.

        Args:
            slices: training slices loaded.

        Returns:
            Batch size and seed, and ``epochs`` passes over ``slices`` as the budget.
        """
        return RunSettings(round(self.epochs * slices), self.batch_size, seed=self.seed)


SCALES = {
    ("step-size", False): Scale(train_slices=32, val_volumes=1, epochs=8, batch_size=4),
    ("step-size", True): Scale(train_slices=8, val_volumes=1, epochs=2, batch_size=4),
    ("optimizers", False): Scale(train_slices=32, val_volumes=6, epochs=5, batch_size=4),
    ("optimizers", True): Scale(train_slices=8, val_volumes=1, epochs=2, batch_size=4),
    ("normalization", False): Scale(train_slices=32, val_volumes=6, epochs=12, batch_size=8),
    ("normalization", True): Scale(train_slices=8, val_volumes=1, epochs=3, batch_size=8),
}

QUICK_QUADRATIC = QuadraticSettings(
    steps=60,
    sweep=tuple(0.05 * 1.22**i for i in range(21)),
    rate_conditions=(10.0, 100.0),
    rate_steps=200,
    rate_lrs=tuple(0.1 * 1.25**i for i in range(18)),
    rate_momenta=tuple(1 - 0.9 * 0.6**i for i in range(7)),
    zoom=5,
)


def scale(study: str, quick: bool, **overrides: float | None) -> Scale:
    """The study's scale, with the options given on the command line replacing it.

    Args:
        study: ``step-size``, ``optimizers`` or ``normalization``.
        quick: the ``--quick`` scale instead of the default one.
        **overrides: :class:`Scale` fields; None leaves the field as it is.

    Returns:
        The scale.

    Raises:
        ValueError: an override is not positive.
    """
    chosen = {k: v for k, v in overrides.items() if v is not None}
    for name, value in chosen.items():
        if name != "seed" and not value > 0:
            raise ValueError(f"{name.replace('_', '-')}: must be positive, got {value}")
    known = {f.name for f in fields(Scale)}
    return replace(SCALES[study, quick], **{k: v for k, v in chosen.items() if k in known})


def step_size_settings(
    size: Scale, slices: int, quick: bool, condition: float, dim: int
) -> tuple[QuadraticSettings, LineSettings]:
    """The step-size study's settings.

    Args:
        size: the scale.
        slices: training slices loaded.
        quick: the ``--quick`` settings.
        condition: the condition number of the step-size panels.
        dim: the quadratics' dimension.

    Returns:
        The quadratic part's and the network part's settings.
    """
    quadratic = replace(
        QUICK_QUADRATIC if quick else QuadraticSettings(), condition=condition, dim=dim
    )
    line = LineSettings(run=size.run(slices), chans=size.chans)
    if quick:
        line = replace(line, line_slices=4, points=13, iterations=5)
    return quadratic, line


def optimizer_study(size: Scale, slices: int, quick: bool) -> OptimizerStudy:
    """The optimizer study's settings.

    Args:
        size: the scale.
        slices: training slices loaded.
        quick: keep the middle two step sizes of each method and check two steps.

    Returns:
        The settings.
    """
    study = OptimizerStudy(run=size.run(slices), chans=size.chans)
    if quick:
        methods = tuple(replace(m, lrs=m.lrs[1:3]) for m in study.methods)
        study = replace(study, methods=methods, check_steps=2)
    return study


def normalization_study(size: Scale, slices: int, quick: bool) -> NormalizationStudy:
    """The normalization study's settings.

    Args:
        size: the scale.
        slices: training slices loaded.
        quick: validate once during training instead of three times.

    Returns:
        The settings.
    """
    run = replace(size.run(slices), val_points=1 if quick else 3)
    return NormalizationStudy(run=run, chans=size.chans)
