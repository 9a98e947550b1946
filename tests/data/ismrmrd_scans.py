"""ISMRMRD raw files for the tests, written with the ``ismrmrd`` package itself from k-space.

``write_scan`` turns a (slices, coils, rows, columns) k-space (the simulator's, or any) into the
acquisitions a scanner converter would write: one readout line per acquired column, slice,
average and repetition, with noise measurements, calibration lines, navigators and geometry as
asked. The header is built with the package's schema bindings (``ismrmrd.xsd``).
"""

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import ismrmrd
import ismrmrd.xsd as xsd
import numpy as np

from data_prep.config import SimulationConfig
from data_prep.simulate import simulate_volume
from data_prep.sources import open_source

SLICE_GAP_MM = 5.0
# Tiny simulated volumes: 32 x 32 targets from (64, 40) k-space with 3 zero lines at each edge.
SMALL = SimulationConfig(
    source="phantom",
    challenge="multicoil",
    coils=4,
    recon_size=32,
    kspace_width=40,
    num_volumes=1,
    slices_per_volume=2,
    val_fraction=0,
    test_fraction=0,
    noise_level=0.02,
    pad_lines=3,
    seed=5,
)


def simulated_kspace(config: SimulationConfig = SMALL, index: int = 0) -> np.ndarray:
    """The simulator's fully sampled multicoil k-space of volume ``index``: (S, C, H, W)."""
    volume = simulate_volume(
        replace(config, challenge="multicoil"), open_source("phantom"), index, "AXT1"
    )
    return volume.kspace


def every_fourth(columns: int = 40, centre: int = 4) -> np.ndarray:
    """Every fourth column of the acquired band and the ``centre`` middle ones."""
    mask = np.zeros(columns, bool)
    mask[SMALL.pad_lines : columns - SMALL.pad_lines : 4] = True
    mask[columns // 2 - centre // 2 : columns // 2 + centre // 2] = True
    return mask


def header(
    kspace: np.ndarray, pad_lines: int, recon_size: int, protocol: str | None = "AXT1_raw"
) -> xsd.ismrmrdHeader:
    """The XML header of ``kspace`` (S, C, H, W): encoded H x W, recon R x R, the acquired
    columns ``[pad_lines, W - pad_lines)`` stated by the encoding limits as fastMRI's are."""
    num_slices, coils, rows, columns = kspace.shape
    acquired = columns - 2 * pad_lines

    def space(x: int, y: int) -> xsd.encodingSpaceType:
        matrix = xsd.matrixSizeType(x=x, y=y, z=1)
        return xsd.encodingSpaceType(
            matrixSize=matrix, fieldOfView_mm=xsd.fieldOfViewMm(x=2.0 * x, y=2.0 * y, z=3.0)
        )

    limits = xsd.encodingLimitsType(
        kspace_encoding_step_1=xsd.limitType(
            minimum=0, maximum=acquired - 1, center=columns // 2 - pad_lines
        ),
        slice=xsd.limitType(minimum=0, maximum=num_slices - 1, center=0),
    )
    measurement = None
    if protocol is not None:
        measurement = xsd.measurementInformationType(
            patientPosition=xsd.patientPositionType.HFS, protocolName=protocol
        )
    return xsd.ismrmrdHeader(
        subjectInformation=xsd.subjectInformationType(patientID="raw-patient-7"),
        measurementInformation=measurement,
        acquisitionSystemInformation=xsd.acquisitionSystemInformationType(receiverChannels=coils),
        experimentalConditions=xsd.experimentalConditionsType(H1resonanceFrequency_Hz=63_500_000),
        encoding=[
            xsd.encodingType(
                encodedSpace=space(rows, columns),
                reconSpace=space(recon_size, recon_size),
                encodingLimits=limits,
                trajectory=xsd.trajectoryType.CARTESIAN,
            )
        ],
    )


def geometry(slice_number: int) -> dict[str, tuple[float, float, float]]:
    """The geometry written for a slice: axial slices 5 mm apart, a slightly oblique read."""
    return {
        "position": (1.5, -2.0, SLICE_GAP_MM * slice_number - 2.5),
        "read_dir": (0.96, 0.28, 0.0),
        "phase_dir": (-0.28, 0.96, 0.0),
        "slice_dir": (0.0, 0.0, 1.0),
    }


def line(data: np.ndarray, flags: Sequence[int] = (), **counters: int) -> ismrmrd.Acquisition:
    """One acquisition of ``data`` (coils, samples) with ``flags`` and encoding counters."""
    acquisition = ismrmrd.Acquisition.from_array(np.ascontiguousarray(data, np.complex64))
    acquisition.center_sample = data.shape[-1] // 2
    acquisition.sample_time_us = 5.0
    for flag in flags:
        acquisition.set_flag(flag)
    for name, value in counters.items():
        setattr(acquisition.idx, name, value)
    if "slice" in counters:
        for name, value in geometry(counters["slice"]).items():
            setattr(acquisition, name, value)
    return acquisition


Edit = Callable[[ismrmrd.Acquisition, int], ismrmrd.Acquisition]


def write_scan(
    path: Path,
    kspace: np.ndarray,
    pad_lines: int = SMALL.pad_lines,
    recon_size: int = SMALL.recon_size,
    mask: np.ndarray | None = None,
    averages: Sequence[np.ndarray] = (),
    repetitions: Sequence[np.ndarray] = (),
    noise: np.ndarray | None = None,
    calibration: str | None = None,
    calibration_lines: int = 8,
    reference: np.ndarray | None = None,
    navigators: bool = False,
    edit_header: Callable[[xsd.ismrmrdHeader], None] | None = None,
    edit_line: Edit | None = None,
) -> Path:
    """Writes ``kspace`` (S, C, H, W) as an ISMRMRD raw file.

    Args:
        path: the file.
        kspace: the k-space of average 0, repetition 0; columns outside ``[pad_lines,
            W - pad_lines)`` are not acquired.
        pad_lines: unacquired columns at each edge, stated by the header's encoding limits.
        recon_size: the header's recon matrix side.
        mask: (W,) the columns acquired (default: all between the pads).
        averages: the k-space of averages 1, 2, ... (same lines).
        repetitions: the k-space of repetitions 1, 2, ... (same lines).
        noise: (lines, coils, samples) noise measurements, written first.
        calibration: ``"merged"``: the centre ``calibration_lines`` columns are acquired and
            flagged calibration-and-imaging; ``"separate"``: every centre column follows the
            imaging lines as a calibration-only line, taken from ``reference``.
        calibration_lines: the width of the calibration centre.
        reference: the k-space of separate calibration lines (default: ``kspace``).
        navigators: a navigator and a phase-correction line (of garbage) before each slice.
        edit_header: changes the header before it is written.
        edit_line: returns what to write for each imaging acquisition (given with its number).
    """
    num_slices, coils, rows, columns = kspace.shape
    if mask is None:
        mask = np.zeros(columns, bool)
        mask[pad_lines : columns - pad_lines] = True
    centre = np.zeros(columns, bool)
    centre[columns // 2 - calibration_lines // 2 : columns // 2 + calibration_lines // 2] = True
    xml_header = header(kspace, pad_lines, recon_size)
    if edit_header is not None:
        edit_header(xml_header)
    rng = np.random.default_rng(0)
    count = 0
    with ismrmrd.Dataset(str(path), mode="w") as dataset:
        dataset.write_xml_header(xsd.ToXML(xml_header))
        for noise_line in noise if noise is not None else ():
            dataset.append_acquisition(line(noise_line, [ismrmrd.ACQ_IS_NOISE_MEASUREMENT]))
        for repetition, volume in enumerate([kspace, *repetitions]):
            for average, data in enumerate([volume, *averages] if repetition == 0 else [volume]):
                for slice_number in range(num_slices):
                    if navigators:
                        garbage = rng.standard_normal((coils, rows)) * 1e3
                        for flag in (ismrmrd.ACQ_IS_NAVIGATION_DATA, ismrmrd.ACQ_IS_PHASECORR_DATA):
                            dataset.append_acquisition(line(garbage, [flag], slice=slice_number))
                    for column in np.flatnonzero(
                        mask | (centre if calibration == "merged" else False)
                    ):
                        flags = []
                        if calibration == "merged" and centre[column]:
                            flags.append(ismrmrd.ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING)
                        acquisition = line(
                            data[slice_number, :, :, column],
                            flags,
                            kspace_encode_step_1=column - pad_lines,
                            slice=slice_number,
                            average=average,
                            repetition=repetition,
                        )
                        if edit_line is not None:
                            acquisition = edit_line(acquisition, count)
                        count += 1
                        dataset.append_acquisition(acquisition)
        if calibration == "separate":
            reference = kspace if reference is None else reference
            for slice_number in range(num_slices):
                for column in np.flatnonzero(centre):
                    dataset.append_acquisition(
                        line(
                            reference[slice_number, :, :, column],
                            [ismrmrd.ACQ_IS_PARALLEL_CALIBRATION],
                            kspace_encode_step_1=column - pad_lines,
                            slice=slice_number,
                        )
                    )
    return path
