"""Undersampling masks: fastMRI's five mask classes behind an argument check.

The masks themselves are ``fastmri.data.subsample``'s, so a seed gives bit-identical masks to
fastmri's. What this module adds is the check fastmri lacks: arguments that cannot make a mask (a
centre fraction that already exceeds the acceleration's sampling budget, mismatched lists) fail up
front with a clear ``ValueError`` instead of fastmri's ``high <= 0`` deep inside numpy.
"""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastmri.data.subsample import MaskFunc

# Each mask type and its class in fastmri.data.subsample, imported when a mask is made so that
# the command line can list the choices without importing torch.
MASK_CLASSES = {
    "random": "RandomMaskFunc",
    "equispaced": "EquiSpacedMaskFunc",
    "equispaced_fraction": "EquispacedMaskFractionFunc",
    "magic": "MagicMaskFunc",
    "magic_fraction": "MagicMaskFractionFunc",
}
MASK_TYPES = tuple(MASK_CLASSES)


def check_mask_arguments(
    mask_type: str, center_fractions: Sequence[float], accelerations: Sequence[float]
) -> tuple[list[float], list[int]]:
    """Validates mask arguments and returns them as lists (accelerations as ints).

    Args:
        mask_type: one of ``MASK_TYPES``.
        center_fractions: fraction of central phase-encode lines always sampled, one per
            acceleration.
        accelerations: undersampling factors (integers > 1), one per centre fraction.

    Returns:
        ``(center_fractions, accelerations)`` as plain lists.

    Raises:
        ValueError: naming the argument and the problem.
    """
    if mask_type not in MASK_TYPES:
        raise ValueError(f"mask_type must be one of {MASK_TYPES}, got {mask_type!r}")
    fractions, accels = list(center_fractions), list(accelerations)
    if not fractions or len(fractions) != len(accels):
        raise ValueError(
            f"center_fractions and accelerations must be non-empty and of equal length, "
            f"got {len(fractions)} center_fractions and {len(accels)} accelerations"
        )
    for acceleration in accels:
        if acceleration != int(acceleration) or acceleration < 2:
            raise ValueError(f"accelerations must be integers >= 2, got {acceleration}")
    for fraction, acceleration in zip(fractions, accels):
        if not 0 < fraction < 1:
            raise ValueError(f"center_fractions must lie in (0, 1), got {fraction}")
        if fraction * acceleration >= 1:
            raise ValueError(
                f"center_fractions: {fraction} leaves no room for acceleration "
                f"{int(acceleration)}: the centre alone samples {fraction:.3g} of the lines, but "
                f"{int(acceleration)}x allows only 1/{int(acceleration)} = {1 / acceleration:.3g}"
            )
    return fractions, [int(a) for a in accels]


def check_mask_widths(
    mask_type: str,
    center_fractions: Sequence[float],
    accelerations: Sequence[float],
    widths: Mapping[int, str | Path],
) -> None:
    """Checks that every (centre fraction, acceleration) pair can make a mask for k-space of each
    width, with fastmri's own arithmetic, before any slice is masked.

    fastmri samples ``round(width * fraction)`` centre lines; when those lines times the
    acceleration reach the width, no line is left for the acceleration to choose (fastmri then
    divides by zero, or draws from an empty range, inside a DataLoader worker). ``magic_fraction``
    also needs ``round(width / acceleration)`` to exceed its centre lines.

    Args:
        mask_type: one of ``MASK_TYPES``.
        center_fractions: one per acceleration.
        accelerations: undersampling factors.
        widths: each k-space width (phase-encode columns) with a file that has it, for the message.

    Raises:
        ValueError: naming the argument, the file and its width.
    """
    for width, example in sorted(widths.items()):
        for fraction, acceleration in zip(center_fractions, accelerations):
            center = round(width * fraction)
            target = round(width / acceleration)
            if center * acceleration >= width or (
                mask_type == "magic_fraction" and target <= max(min(center, target), 1)
            ):
                raise ValueError(
                    f"center_fractions: {fraction} at {int(acceleration)}x leaves no lines to "
                    f"undersample in k-space {width} columns wide ({example}): its {center} centre "
                    f"lines times {int(acceleration)} reach the {width} columns; use a smaller "
                    "centre fraction or acceleration"
                )


def create_mask(
    mask_type: str,
    center_fractions: Sequence[float],
    accelerations: Sequence[float],
    seed: int | None = None,
) -> "MaskFunc":
    """Creates fastmri's mask function of the given type after checking its arguments.

    Args:
        mask_type: ``random``, ``equispaced``, ``equispaced_fraction``, ``magic`` or
            ``magic_fraction``.
        center_fractions: fraction of central lines always sampled, one per acceleration.
        accelerations: undersampling factors; one (fraction, acceleration) pair is drawn per call.
        seed: seed of the mask function's own random state.

    Returns:
        The ``fastmri.data.subsample.MaskFunc``; ``mask_func(shape, seed=...)`` returns
        ``(mask, num_low_frequencies)``.

    Examples:
        fastMRI's 4x equispaced mask with 8% of the centre, for k-space with 368 phase-encode
        lines (the mask broadcasts over coils, readout and the real/imaginary axis):

        >>> from mri_recon.data import create_mask
        >>> mask_func = create_mask("equispaced_fraction", [0.08], [4])
        >>> mask, num_low_frequencies = mask_func((1, 640, 368, 2), seed=0)
        >>> mask.shape, num_low_frequencies
        (torch.Size([1, 1, 368, 1]), 29)
        >>> round(mask.mean().item(), 2)
        0.25
        >>> create_mask("random", [0.3], [4])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: center_fractions: 0.3 leaves no room for acceleration 4: ...
    """
    fractions, accels = check_mask_arguments(mask_type, center_fractions, accelerations)
    from fastmri.data import subsample

    mask_class = getattr(subsample, MASK_CLASSES[mask_type])
    return mask_class(fractions, accels, seed=seed)
