"""Command-line options generated from dataclasses: one source for every default.

A dataclass field made with ``option`` becomes ``--field-name`` with the field's default, its type
(``int``, ``float``, ``str``, ``bool`` as a switch, ``X | None``, ``tuple[X, ...]`` as several
values) and the help text and choices of its metadata. ``RunOptions`` (batch size, device, workers,
precision, skipping bad files) and ``MaskOptions`` (how fully sampled files are undersampled) are
shared by the commands that run a network; ``data_prep``'s simulator builds its options from
``SimulationConfig`` the same way.

Light on purpose: ``mri-recon --help`` imports this module without torch.
"""

import argparse
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from mri_recon.data.fastmri_format import STANDARD_CENTER_FRACTIONS
from mri_recon.data.masks import MASK_TYPES
from mri_recon.precision import COMPILE_CHOICES, PRECISIONS

ACCELERATORS = ("auto", "cpu", "gpu")
BASELINES = ("zero-filled", "cs")  # the classical methods, beside the networks
CS_REGULARIZERS = ("wavelet", "tv")  # L1 of Daubechies-4 wavelet coefficients; total variation
CS_SENSITIVITIES = ("jsense", "espirit")  # how multicoil sensitivity maps are estimated
# Tuned on the demo dataset's validation split (docs/benchmarks.md, "The compressed-sensing
# baseline"): the k-space is scaled so that the zero-filled image peaks at 1, so the weight does
# not depend on the data's scale.
CS_WEIGHT = 1e-3
CS_ITERATIONS = 100
T = TypeVar("T")
# The help of the options the commands that run a checkpoint share.
CONFIG_HELP = (
    "for fastMRI's published weights (which record no settings): the recipe they were trained "
    "with, a bundled name (e.g. unet_knee_singlecoil, varnet_knee_multicoil) or a YAML file; it "
    "gives the challenge and masks (the mask options and --challenge override it)"
)
ANONYMIZE_HELP = (
    "leave the patient's and the study's identifying fields (name, ID, birth date, dates, "
    "institution, ...) out of the DICOM series"
)


def option(
    default: Any,
    help: str,
    choices: Sequence[str] | None = None,
    required: bool = False,
    metavar: str | None = None,
) -> Any:
    """A dataclass field that ``add_options`` turns into a command-line option.

    Args:
        default: the field's default, shown in the help unless ``None`` or a switch's.
        help: what the option does.
        choices: the values it accepts.
        required: the command line must give it (the dataclass keeps ``default`` for Python use).
        metavar: the value's name in the usage line.
    """
    metadata = {"help": help, "choices": choices, "required": required, "metavar": metavar}
    return field(default=default, metadata=metadata)


def flag(name: str) -> str:
    """The option of a field: ``batch_size`` -> ``--batch-size``."""
    return "--" + name.replace("_", "-")


def _value_type(annotation: Any) -> tuple[type, bool]:
    """The type of one value of a field, and whether the field takes several (a tuple)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        (annotation,) = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is tuple:
        return typing.get_args(annotation)[0], True
    return annotation, False


def add_options(
    parser: argparse.ArgumentParser,
    cls: type,
    skip: Sequence[str] = (),
    helps: Mapping[str, str] | None = None,
) -> None:
    """Adds one option per ``option`` field of the dataclass ``cls`` (except ``skip``), with the
    field's help text or the one ``helps`` gives for it (a command where it means more or less)."""
    hints = typing.get_type_hints(cls)
    for item in fields(cls):
        if item.name in skip or "help" not in item.metadata:
            continue
        meta, default = item.metadata, item.default
        value_type, several = _value_type(hints[item.name])
        text = (helps or {}).get(item.name, meta["help"])
        kwargs: dict[str, Any] = {"dest": item.name, "help": text}
        if value_type is bool:
            kwargs["action"] = "store_true" if default is False else argparse.BooleanOptionalAction
            parser.add_argument(flag(item.name), default=default, **kwargs)
            continue
        if meta["required"]:
            kwargs["required"] = True
        elif default is not None:
            shown = " ".join(map(str, default)) if several else default
            kwargs["help"] += f" (default: {shown})"
        kwargs.update(type=value_type, choices=meta["choices"], metavar=meta["metavar"])
        if several:
            kwargs["nargs"] = "+"
        parser.add_argument(
            flag(item.name), default=None if meta["required"] else default, **kwargs
        )


def from_options(cls: type[T], args: argparse.Namespace | Mapping[str, Any], **extra: Any) -> T:
    """An instance of the dataclass ``cls`` from parsed options (lists become tuples)."""
    values = vars(args) if isinstance(args, argparse.Namespace) else dict(args)
    kwargs = {
        item.name: tuple(values[item.name])
        if isinstance(values[item.name], list)
        else values[item.name]
        for item in fields(cls)
        if item.name in values
    }
    return cls(**kwargs, **extra)


@dataclass(frozen=True)
class RunOptions:
    """How a command runs a network over a data folder. Errors name the command-line option."""

    batch_size: int = option(8, "slices per forward pass (filled across volumes of one shape)")
    accelerator: str = option("auto", "where the network runs", choices=ACCELERATORS)
    num_workers: int = option(0, "DataLoader worker processes reading the files")
    precision: str = option(
        "auto",
        "the network's precision: bf16 autocast (FFTs and outputs stay float32) or 32; auto: "
        "bf16 where the hardware computes it fast (AVX-512 BF16 or AMX CPUs, Ampere+ GPUs)",
        choices=PRECISIONS,
    )
    compile: str = option(
        "auto",
        "run the network through torch.compile: on, off, or auto (where a C++ compiler (or, on a "
        "GPU, triton) is found and the run is long enough to win a first compilation back: 1,000 "
        "batches, or as many slices' k-space pixels as 1,000 batches of 8 slices of 256 x 128; "
        "later runs of the same network compile from the cache in seconds). A failed "
        "compilation warns and runs eagerly",
        choices=COMPILE_CHOICES,
    )
    skip_bad_files: bool = option(
        False,
        "go on past unreadable or malformed files and volumes with NaN or infinite values: they "
        "are listed in the summary but do not make the exit status non-zero",
    )

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch-size must be >= 1, got {self.batch_size}")
        if self.accelerator not in ACCELERATORS:
            raise ValueError(f"accelerator must be one of {ACCELERATORS}, got {self.accelerator!r}")
        if self.num_workers < 0:
            raise ValueError(f"num-workers must be >= 0, got {self.num_workers}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.compile not in COMPILE_CHOICES:
            raise ValueError(f"compile must be one of {COMPILE_CHOICES}, got {self.compile!r}")


@dataclass(frozen=True)
class MaskSettings:
    """How fully sampled files are undersampled (files with a stored mask ignore it)."""

    mask_type: str
    center_fractions: list[float]
    accelerations: list[int]


@dataclass(frozen=True)
class MaskOptions:
    """Mask settings given on the command line; ``resolve`` fills the gaps."""

    mask_type: str | None = option(
        None, "mask type for fully sampled files (default: the checkpoint's)", choices=MASK_TYPES
    )
    accelerations: tuple[int, ...] | None = option(
        None, "undersampling factors (default: the checkpoint's)", metavar="A"
    )
    center_fractions: tuple[float, ...] | None = option(
        None,
        "fully sampled centre fraction per acceleration (default: the checkpoint's, else "
        + ", ".join(f"{f} for {a}x" for a, f in STANDARD_CENTER_FRACTIONS.items())
        + ")",
        metavar="F",
    )

    def resolve(self, recorded: Mapping[str, Any] | None = None) -> MaskSettings | None:
        """The settings to use: these options, else those ``recorded`` in a checkpoint.

        Missing centre fractions follow fastMRI's pairing (``STANDARD_CENTER_FRACTIONS``).

        Returns:
            The settings, or ``None`` when neither the options nor a record give any.

        Raises:
            ValueError: centre fractions are needed but missing, or their count does not match.
        """
        recorded = recorded or {}
        accelerations, center_fractions = self.accelerations, self.center_fractions
        if accelerations is None:
            if self.mask_type is None and center_fractions is None and not recorded:
                return None
            accelerations = recorded.get("accelerations")
            center_fractions = center_fractions or recorded.get("center_fractions")
            if accelerations is None:
                raise ValueError("accelerations: needed with --mask-type/--center-fractions")
        if center_fractions is None:
            missing = [a for a in accelerations if a not in STANDARD_CENTER_FRACTIONS]
            if missing:
                raise ValueError(
                    f"center-fractions: needed for accelerations {missing} (fastMRI's defaults "
                    f"cover only {sorted(STANDARD_CENTER_FRACTIONS)})"
                )
            center_fractions = [STANDARD_CENTER_FRACTIONS[a] for a in accelerations]
        if len(center_fractions) != len(accelerations):
            raise ValueError(
                f"center-fractions: {len(center_fractions)} given "
                f"for {len(accelerations)} accelerations"
            )
        return MaskSettings(
            mask_type=self.mask_type or recorded.get("mask_type", "random"),
            center_fractions=[float(f) for f in center_fractions],
            accelerations=[int(a) for a in accelerations],
        )


@dataclass(frozen=True)
class CsOptions:
    """The compressed-sensing baseline (``mri_recon.inference.compressed_sensing``): SigPy's
    regularised least squares on the undersampled k-space, with sensitivity maps estimated from
    the k-space centre for multicoil data. Errors name the command-line option."""

    cs_regularizer: str = option(
        "wavelet",
        "the CS regulariser: wavelet (L1 norm of Daubechies-4 wavelet coefficients) or tv "
        "(total variation)",
        choices=CS_REGULARIZERS,
    )
    cs_weight: float = option(
        CS_WEIGHT,
        "the CS regularisation weight, for k-space scaled so that the zero-filled image peaks "
        "at 1 (tuned on the demo's validation split, docs/benchmarks.md)",
    )
    cs_iterations: int = option(CS_ITERATIONS, "iterations of the CS solver per slice")
    cs_sensitivities: str = option(
        "jsense",
        "how CS estimates multicoil sensitivity maps from the k-space centre: jsense (joint "
        "estimation, robust to few centre lines) or espirit (ESPIRiT on the fully sampled "
        "centre lines)",
        choices=CS_SENSITIVITIES,
    )

    def __post_init__(self) -> None:
        if self.cs_regularizer not in CS_REGULARIZERS:
            raise ValueError(
                f"cs-regularizer must be one of {CS_REGULARIZERS}, got {self.cs_regularizer!r}"
            )
        if not (isinstance(self.cs_weight, int | float) and math.isfinite(self.cs_weight)):
            raise ValueError(f"cs-weight must be a positive number, got {self.cs_weight!r}")
        if self.cs_weight <= 0:
            raise ValueError(f"cs-weight must be a positive number, got {self.cs_weight!r}")
        if isinstance(self.cs_iterations, bool) or not isinstance(self.cs_iterations, int):
            raise ValueError(f"cs-iterations must be an integer, got {self.cs_iterations!r}")
        if self.cs_iterations < 1:
            raise ValueError(f"cs-iterations must be >= 1, got {self.cs_iterations}")
        if self.cs_sensitivities not in CS_SENSITIVITIES:
            raise ValueError(
                f"cs-sensitivities must be one of {CS_SENSITIVITIES}, got {self.cs_sensitivities!r}"
            )

    def describe(self) -> str:
        """One line for reports: ``SigPy L1-wavelet, weight 0.001, 100 iterations, JSENSE maps``."""
        regularizer = {"wavelet": "L1-wavelet", "tv": "total variation"}[self.cs_regularizer]
        maps = {"jsense": "JSENSE", "espirit": "ESPIRiT"}[self.cs_sensitivities]
        return (
            f"SigPy {regularizer}, weight {self.cs_weight:g}, {self.cs_iterations} iterations, "
            f"{maps} sensitivity maps (multicoil)"
        )
