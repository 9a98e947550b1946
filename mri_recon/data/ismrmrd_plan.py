"""What the acquisitions of an ISMRMRD scan become: the checks of what is supported, the choice of
repetition, contrast, set and phase, and the place of every readout line in fastMRI's k-space.

Only headers are read here (no samples), so every structural problem is found before any sample
is read or any file written.

- Flags: noise-measurement acquisitions are kept apart (for ``--prewhiten``); navigator,
  phase-correction, dummy-scan, feedback, surface-coil-correction and phase-stabilisation
  acquisitions are skipped; parallel-imaging calibration lines that are also imaging lines
  (``ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING``) are imaging lines, and calibration-only lines
  (``ACQ_IS_PARALLEL_CALIBRATION``) fill the positions no imaging line fills (the centre).
- Columns follow fastMRI's readers: a line with ``kspace_encode_step_1 = e`` goes to column
  ``padding_left + e``, where ``padding_left = encoded_y // 2 - center`` comes from the header's
  encoding limits, so the original header gives readers the padding of the k-space placed. Rows:
  the samples (less ``discard_pre`` / ``discard_post``) are placed so that ``center_sample``
  lands on row ``encoded_x // 2`` (an asymmetric echo leaves zeros; ``center_sample = 0`` is read
  as unset: a centred readout). The k-space is the header's encoded matrix; a line that does not
  fit in it is an error, never a silent crop.
- Unsupported, each a one-line ``IsmrmrdError``: non-Cartesian trajectories, EPI (lines read in
  reverse), 3D encoding (a second phase-encoding direction), lines of another encoding space,
  inconsistent line lengths, echo positions or coil counts, a recon matrix larger than the
  encoded one (phase or readout resolution below 100%), no image acquisitions.
"""

import itertools
from dataclasses import dataclass

import numpy as np

from mri_recon.data.header import HeaderError, parse_header
from mri_recon.data.ismrmrd_read import IsmrmrdError, RawScan, ismrmrd
from mri_recon.options import option

COUNTERS = ("repetition", "contrast", "set", "phase")  # chosen, or one file per value
SKIPPED = {  # flag -> what the acquisition is: not image data
    ismrmrd.ACQ_IS_NAVIGATION_DATA: "navigator",
    ismrmrd.ACQ_IS_PHASECORR_DATA: "phase correction",
    ismrmrd.ACQ_IS_HPFEEDBACK_DATA: "feedback",
    ismrmrd.ACQ_IS_RTFEEDBACK_DATA: "feedback",
    ismrmrd.ACQ_IS_DUMMYSCAN_DATA: "dummy scan",
    ismrmrd.ACQ_IS_SURFACECOILCORRECTIONSCAN_DATA: "surface coil correction",
    ismrmrd.ACQ_IS_PHASE_STABILIZATION_REFERENCE: "phase stabilisation",
    ismrmrd.ACQ_IS_PHASE_STABILIZATION: "phase stabilisation",
}


@dataclass(frozen=True)
class ConversionOptions:
    """How an ISMRMRD scan is converted. Errors name the command-line option."""

    prewhiten: bool = option(
        False, "whiten the coils with the covariance of the scan's noise-measurement acquisitions"
    )
    repetition: int | None = option(
        None, "the repetition to convert (default: the first)", metavar="N"
    )
    contrast: int | None = option(
        None, "the contrast (echo) to convert (default: the first)", metavar="N"
    )
    set: int | None = option(None, "the set to convert (default: the first)", metavar="N")
    phase: int | None = option(
        None, "the (cardiac) phase to convert (default: the first)", metavar="N"
    )
    separate: tuple[str, ...] | None = option(
        None,
        "write one file per value of these counters (<name>_<counter><value>.h5) instead of "
        "choosing one",
        choices=COUNTERS,
        metavar="COUNTER",
    )

    def __post_init__(self) -> None:
        for name in COUNTERS:
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"--{name} must be non-negative, got {value}")
            if value is not None and name in (self.separate or ()):
                raise ValueError(f"--{name} and --separate {name}: choose one value or all")
        unknown = set(self.separate or ()) - set(COUNTERS)
        if unknown:
            raise ValueError(f"--separate takes {', '.join(COUNTERS)}, got {sorted(unknown)}")


@dataclass(frozen=True)
class Placement:
    """Readout lines and where they go.

    Attributes:
        acquisitions: acquisition numbers, in file order.
        slices: the output slice of each.
        columns: the output phase-encode column of each.
    """

    acquisitions: np.ndarray
    slices: np.ndarray
    columns: np.ndarray


@dataclass(frozen=True)
class VolumePlan:
    """One fastMRI volume to build from a scan.

    Attributes:
        counters: the repetition, contrast, set and phase it holds.
        name_suffix: ``""``, or ``_<counter><value>`` for each separated counter.
        image: the imaging lines.
        calibration: the calibration-only lines (for positions no imaging line fills).
        noise: the acquisition numbers of the noise measurements.
        shape: (slices, coils, rows, columns) of the k-space.
        samples: the samples of each line kept (discards removed).
        rows: the k-space rows they fill.
        padding: fastMRI's (padding_left, padding_right) from the header.
        recon_size: (height, width) of the header's recon matrix: the target's size.
    """

    counters: dict[str, int]
    name_suffix: str
    image: Placement
    calibration: Placement
    noise: np.ndarray
    shape: tuple[int, int, int, int]
    samples: slice
    rows: slice
    padding: tuple[int, int]
    recon_size: tuple[int, int]


def check_encoding(scan: RawScan) -> dict:
    """The readers' metadata of the scan's header (``parse_header``), after the checks of the
    first encoding: Cartesian, 2D, recon matrix within the encoded one."""
    encoding = scan.header.encoding[0]
    if encoding.trajectory == ismrmrd.xsd.trajectoryType.EPI:
        raise IsmrmrdError("EPI trajectories are not supported (their lines alternate direction)")
    if encoding.trajectory != ismrmrd.xsd.trajectoryType.CARTESIAN:
        raise IsmrmrdError(f"non-Cartesian trajectory '{encoding.trajectory.value}' not supported")
    partitions = encoding.encodedSpace.matrixSize.z
    if partitions > 1:
        raise IsmrmrdError(f"3D encoding ({partitions} partitions) not supported: 2D scans only")
    try:
        metadata = parse_header(scan.xml)
    except HeaderError as error:
        raise IsmrmrdError(str(error)) from None
    encoded, recon = metadata["encoding_size"], metadata["recon_size"]
    if recon[0] > encoded[0] or recon[1] > encoded[1]:
        raise IsmrmrdError(
            f"the recon matrix {recon[0]}x{recon[1]} is larger than the encoded matrix "
            f"{encoded[0]}x{encoded[1]} (resolution below 100% is not supported)"
        )
    return metadata


def counter(heads: np.ndarray, name: str) -> np.ndarray:
    """One encoding counter (``slice``, ``repetition``, ...) of every acquisition."""
    return heads["idx"][name].astype(np.int64)


def classify(scan: RawScan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(imaging, calibration-only, noise) acquisitions as boolean masks, after checking that the
    lines are 2D Cartesian lines of the first encoding space."""
    heads = scan.heads
    noise = scan.flagged(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)
    skipped = np.any([scan.flagged(flag) for flag in SKIPPED], axis=0)
    lines = ~noise & ~skipped
    calibration = (
        lines
        & scan.flagged(ismrmrd.ACQ_IS_PARALLEL_CALIBRATION)
        & ~scan.flagged(ismrmrd.ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING)
    )
    image = lines & ~calibration
    if not image.any():
        raise IsmrmrdError(
            f"no image acquisitions ({noise.sum()} noise, {calibration.sum()} calibration, "
            f"{skipped.sum()} navigator or other of {len(heads)})"
        )
    problems = (
        (scan.flagged(ismrmrd.ACQ_IS_REVERSE), "EPI (lines read in reverse) not supported"),
        (heads["trajectory_dimensions"] > 0, "non-Cartesian lines (with a trajectory)"),
        (counter(heads, "kspace_encode_step_2") > 0, "3D encoding (kspace_encode_step_2 > 0)"),
        (heads["encoding_space_ref"] > 0, "lines of a second encoding space not supported"),
    )
    for found, problem in problems:
        if (found & lines).any():
            raise IsmrmrdError(f"{problem}: acquisition {np.flatnonzero(found & lines)[0]}")
    return image, calibration, noise


def _matching(heads: np.ndarray, lines: np.ndarray, chosen: dict[str, int]) -> np.ndarray:
    """The ``lines`` whose counters have the ``chosen`` values."""
    selected = lines.copy()
    for name, value in chosen.items():
        selected &= counter(heads, name) == value
    return selected


def choices(options: ConversionOptions, heads: np.ndarray, image: np.ndarray) -> list[dict]:
    """The (repetition, contrast, set, phase) of each volume to build: the values asked for,
    every value of a separated counter, else the first value of the lines asked for."""
    asked = {name: getattr(options, name) for name in COUNTERS}
    asked = {name: value for name, value in asked.items() if value is not None}
    for name, value in asked.items():
        present = np.unique(counter(heads, name)[image]).tolist()
        if value not in present:
            raise IsmrmrdError(f"--{name} {value}: the scan has {name} {present}")
    fixed = _matching(heads, image, asked)
    if not fixed.any():
        raise IsmrmrdError(f"no image lines with {asked}")
    values = {}
    for name in COUNTERS:
        present = np.unique(counter(heads, name)[fixed]).tolist()
        separated = name in (options.separate or ())
        values[name] = [asked[name]] if name in asked else present if separated else present[:1]
    combinations = [dict(zip(COUNTERS, each)) for each in itertools.product(*values.values())]
    return [chosen for chosen in combinations if _matching(heads, image, chosen).any()]


def _calibration_lines(heads: np.ndarray, calibration: np.ndarray, chosen: dict) -> np.ndarray:
    """The calibration-only lines of the ``chosen`` counters; for a repetition without any, those
    of the first repetition with some (scanners acquire a reference once)."""
    selected = _matching(heads, calibration, {n: chosen[n] for n in ("contrast", "set", "phase")})
    repetitions = counter(heads, "repetition")
    if selected.any() and not (selected & (repetitions == chosen["repetition"])).any():
        return selected & (repetitions == repetitions[selected].min())
    return selected & (repetitions == chosen["repetition"])


def _same(values: np.ndarray, what: str) -> int:
    """The one value of ``values``; several are an error naming ``what`` they are."""
    unique = np.unique(values)
    if len(unique) > 1:
        raise IsmrmrdError(f"inconsistent {what}: {', '.join(map(str, unique[:4]))}")
    return int(unique[0])


def readout(heads: np.ndarray, lines: np.ndarray, rows: int) -> tuple[int, slice, slice]:
    """(coils, samples kept, rows filled) of ``lines``, checked to be the same for all."""
    coils = _same(heads["active_channels"][lines], "coil counts (active channels)")
    kept = heads["number_of_samples"][lines].astype(np.int64)
    kept -= heads["discard_pre"][lines] + heads["discard_post"][lines]
    length = _same(kept, "line lengths (samples less discards)")
    pre = _same(heads["discard_pre"][lines], "discarded samples")
    centre_sample = _same(heads["center_sample"][lines], "echo positions (center_sample)")
    centre = centre_sample - pre if centre_sample else length // 2
    start = rows // 2 - centre
    if length < 1 or start < 0 or start + length > rows:
        raise IsmrmrdError(
            f"readout lines of {length} samples with the echo at sample {centre} do not fit "
            f"the encoded matrix's {rows} readout points"
        )
    return coils, slice(pre, pre + length), slice(start, start + length)


def _placement(
    heads: np.ndarray, lines: np.ndarray, slices: np.ndarray, metadata: dict
) -> Placement:
    """Where the ``lines`` go: output slice and column of each, checked to lie in the matrix."""
    acquisitions = np.flatnonzero(lines & np.isin(counter(heads, "slice"), slices))
    steps = counter(heads, "kspace_encode_step_1")[acquisitions]
    left, right = metadata["padding_left"], metadata["padding_right"]
    columns = left + steps
    outside = (columns < 0) | (columns >= min(right, metadata["encoding_size"][1]))
    if outside.any():
        raise IsmrmrdError(
            f"kspace_encode_step_1 = {steps[outside][0]} (acquisition "
            f"{acquisitions[outside][0]}) falls outside the encoded matrix's "
            f"{metadata['encoding_size'][1]} columns or the encoding limits "
            f"(centre {metadata['encoding_size'][1] // 2 - left}, maximum {right - left - 1})"
        )
    output_slices = np.searchsorted(slices, counter(heads, "slice")[acquisitions])
    return Placement(acquisitions, output_slices, columns)


def plan_volumes(scan: RawScan, options: ConversionOptions) -> list[VolumePlan]:
    """The volumes a scan becomes under ``options``, with every structural check.

    Raises:
        IsmrmrdError: anything unsupported or inconsistent (see the module docstring), or a
            counter value the scan does not have.
    """
    metadata = check_encoding(scan)
    heads = scan.heads
    image, calibration, noise = classify(scan)
    rows, columns = metadata["encoding_size"][:2]
    plans = []
    for chosen in choices(options, heads, image):
        selected = _matching(heads, image, chosen)
        slice_numbers = np.unique(counter(heads, "slice")[selected])
        reference = _calibration_lines(heads, calibration, chosen)
        coils, samples, filled = readout(heads, selected | reference, rows)
        if options.prewhiten:
            if not noise.any():
                raise IsmrmrdError("--prewhiten: the scan has no noise-measurement acquisitions")
            noise_coils = _same(heads["active_channels"][noise], "noise scan coil counts")
            if noise_coils != coils:
                raise IsmrmrdError(
                    f"--prewhiten: the noise scans have {noise_coils} channels, the lines {coils}"
                )
        separated = [name for name in COUNTERS if name in (options.separate or ())]
        plans.append(
            VolumePlan(
                counters=chosen,
                name_suffix="".join(f"_{name}{chosen[name]}" for name in separated),
                image=_placement(heads, selected, slice_numbers, metadata),
                calibration=_placement(heads, reference, slice_numbers, metadata),
                noise=np.flatnonzero(noise),
                shape=(len(slice_numbers), coils, rows, columns),
                samples=samples,
                rows=filled,
                padding=(metadata["padding_left"], metadata["padding_right"]),
                recon_size=metadata["recon_size"][:2],
            )
        )
    return plans
