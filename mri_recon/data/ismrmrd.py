"""ISMRMRD raw scans to fastMRI-format volumes, for a file (``python -m data_prep convert``) or in
memory (``reconstruct`` and ``check-data`` on raw files), by the same pure functions.

``read_plans`` reads the headers and checks everything (``mri_recon.data.ismrmrd_plan``: what is
supported, which lines go where); ``build_volume`` reads the samples and builds one volume;
``store_volume`` puts it in an open HDF5 file. A converted volume holds:

- ``kspace``: (slices, coils, rows, columns) complex64, or (slices, rows, columns) for a
  single-coil scan: the header's encoded matrix, readout oversampling kept, every sample as
  acquired (as fastMRI's files keep it), averages averaged, unacquired positions zero;
- fully sampled (every column between the header's ``padding_left`` and ``padding_right``
  acquired): ``reconstruction_rss`` (and ``reconstruction_esc`` for a single coil) computed as
  fastMRI computes it (the root sum of squares of the coil images, centre-cropped to the header's
  recon matrix) and the attributes ``max`` and ``norm``: a train/val-style file;
- undersampled: ``mask`` (columns,) bool, the acquired columns (the same in every slice), and the
  attributes ``acceleration`` (the columns between the paddings over the acquired ones, rounded)
  and ``num_low_frequency`` (the acquired columns around the centre, contiguous): a test-style
  file, reconstructed as it was acquired;
- ``ismrmrd_header``: the original XML header, unchanged, so readers compute the padding of the
  k-space placed (partial-Fourier and encoding-limit zeros appear as in fastMRI's files);
- ``slice_geometry`` (``SLICE_GEOMETRY_KEY``): (slices, 12) float32, per slice the ``position``
  (3, mm), ``read_dir`` (3), ``phase_dir`` (3) and ``slice_dir`` (3) of its first imaging
  acquisition, as the acquisition headers give them: ISMRMRD's patient coordinates (left,
  posterior, superior; mm from the isocentre), the position being the centre of the excited
  slice (not DICOM's first-voxel corner);
- attributes ``acquisition`` (the header's protocol name, else ``ISMRMRD``), ``patient_id`` (when
  the header has one), ``ismrmrd_repetition`` / ``ismrmrd_contrast`` / ``ismrmrd_set`` /
  ``ismrmrd_phase`` (the counters converted) and ``prewhitened``.

With ``prewhiten`` the coils are whitened with the noise measurements' covariance ``C``
(``C = N N^H / samples``, scaled by the noise's dwell time over the lines'): every line becomes
``L^-1 line`` where ``C = L L^H`` (Cholesky), so the noise of the whitened coils has identity
covariance.
"""

from collections.abc import Iterator
from dataclasses import dataclass

import h5py
import numpy as np

from mri_recon.data.fastmri_format import (
    ESC_KEY,
    HEADER_KEY,
    KSPACE_KEY,
    MASK_KEY,
    RSS_KEY,
    SLICE_GEOMETRY_KEY,
)
from mri_recon.data.ismrmrd_plan import ConversionOptions, Placement, VolumePlan, plan_volumes
from mri_recon.data.ismrmrd_read import IsmrmrdError, RawScan, read_lines, read_scan

GEOMETRY_FIELDS = ("position", "read_dir", "phase_dir", "slice_dir")


@dataclass(frozen=True)
class ConvertedVolume:
    """One fastMRI-format volume made from an ISMRMRD scan (the module docstring lists it)."""

    name_suffix: str
    kspace: np.ndarray
    mask: np.ndarray | None
    targets: dict[str, np.ndarray]
    xml: bytes
    geometry: np.ndarray
    attrs: dict[str, object]


def read_placed(hf: h5py.File, scan: RawScan, plan: VolumePlan, lines: Placement) -> np.ndarray:
    """The samples of ``lines`` that the k-space keeps: (lines, coils, samples) complex64."""
    kept = plan.rows.stop - plan.rows.start
    read = read_lines(hf, lines.acquisitions, scan.heads)
    stacked = [line[:, plan.samples] for line in read]
    return np.stack(stacked) if stacked else np.zeros((0, plan.shape[1], kept), np.complex64)


def whitening(hf: h5py.File, scan: RawScan, plan: VolumePlan) -> np.ndarray:
    """The (coils, coils) matrix ``L^-1`` that whitens the coils (module docstring).

    Raises:
        IsmrmrdError: the noise covariance is not positive definite.
    """
    noise = np.concatenate(read_lines(hf, plan.noise, scan.heads), axis=1).astype(np.complex128)
    covariance = noise @ noise.conj().T / noise.shape[1]
    noise_dwell = float(scan.heads["sample_time_us"][plan.noise[0]])
    line_dwell = float(scan.heads["sample_time_us"][plan.image.acquisitions[0]])
    if noise_dwell > 0 and line_dwell > 0:
        covariance *= noise_dwell / line_dwell
    try:
        cholesky = np.linalg.cholesky(covariance)
    except np.linalg.LinAlgError:
        raise IsmrmrdError("--prewhiten: the noise covariance is singular") from None
    return np.linalg.inv(cholesky)


def _mean_by_position(positions: np.ndarray, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lines that share a position averaged (in float64): (positions, lines), each once. A
    line alone at its position is kept bit for bit."""
    order = np.argsort(positions, kind="stable")
    ordered = positions[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    if len(starts) == len(positions):
        return positions, lines
    counts = np.diff(np.r_[starts, len(positions)])
    sums = np.add.reduceat(lines[order].astype(np.complex128), starts, axis=0)
    return ordered[starts], (sums / counts[:, None, None]).astype(np.complex64)


def place_lines(
    plan: VolumePlan, image: np.ndarray, calibration: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The k-space (slices, coils, rows, columns) and which (slice, column) were acquired.

    Imaging lines at one position are averaged; calibration-only lines fill the positions no
    imaging line fills.
    """
    kspace = np.zeros(plan.shape, np.complex64)
    columns = plan.shape[-1]
    acquired = np.zeros((plan.shape[0], columns), bool)
    for placement, lines in ((plan.image, image), (plan.calibration, calibration)):
        positions = placement.slices * columns + placement.columns
        missing = ~acquired.reshape(-1)[positions]  # all, for the imaging lines
        if not missing.all():
            positions, lines = positions[missing], lines[missing]
        if len(positions) == 0:
            continue
        positions, lines = _mean_by_position(positions, lines)
        slices, columns_of = np.divmod(positions, columns)
        kspace[slices, :, plan.rows, columns_of] = lines  # (lines, coils, samples)
        acquired[slices, columns_of] = True
    return kspace, acquired


def num_low_frequency(mask: np.ndarray) -> int:
    """The acquired columns around the centre column, contiguous (0 when it is not acquired)."""
    centre = len(mask) // 2
    if not mask[centre]:
        return 0
    left, right = centre, centre + 1
    while left > 0 and mask[left - 1]:
        left -= 1
    while right < len(mask) and mask[right]:
        right += 1
    return right - left


def sampling(acquired: np.ndarray, padding: tuple[int, int]) -> tuple[np.ndarray, bool]:
    """The mask of acquired columns, and whether it covers every column between the paddings.

    Raises:
        IsmrmrdError: the slices were acquired with different columns.
    """
    mask = acquired[0]
    differs = np.flatnonzero((acquired != mask).any(axis=1))
    if len(differs):
        raise IsmrmrdError(
            f"slice {differs[0]} was acquired with other phase-encode lines than slice 0 "
            "(one mask per volume is supported)"
        )
    return mask, bool(mask[padding[0] : padding[1]].all())


def rss_target(kspace: np.ndarray, recon_size: tuple[int, int]) -> np.ndarray:
    """fastMRI's ``reconstruction_rss``: the root sum of squares of the coil images
    (``fastmri.ifft2c``, magnitude, ``fastmri.rss``) centre-cropped to ``recon_size``, slice by
    slice. (slices, coils, rows, columns) complex -> (slices, height, width) float32."""
    import fastmri
    from fastmri.data.transforms import center_crop, to_tensor

    images = [
        center_crop(fastmri.rss(fastmri.complex_abs(fastmri.ifft2c(to_tensor(k))), 0), recon_size)
        for k in kspace
    ]
    return np.stack([image.numpy() for image in images]).astype(np.float32)


def _attributes(scan: RawScan, plan: VolumePlan, prewhitened: bool) -> dict[str, object]:
    """The attributes every converted volume carries (the module docstring lists them)."""
    header = scan.header
    protocol = getattr(header.measurementInformation, "protocolName", None)
    patient = getattr(header.subjectInformation, "patientID", None)
    attrs: dict[str, object] = {"acquisition": (protocol or "ISMRMRD")[:256]}
    if patient:
        attrs["patient_id"] = patient[:256]
    attrs.update({f"ismrmrd_{name}": value for name, value in plan.counters.items()})
    attrs["prewhitened"] = prewhitened
    return attrs


def build_volume(
    hf: h5py.File, scan: RawScan, plan: VolumePlan, options: ConversionOptions
) -> ConvertedVolume:
    """Reads the samples of one planned volume and builds it.

    Args:
        hf: the open ISMRMRD file.
        scan: its headers (``read_scan``).
        plan: the volume (``plan_volumes``).
        options: the conversion options (``prewhiten``).

    Raises:
        IsmrmrdError: a malformed acquisition, a singular noise covariance, or slices acquired
            with different lines.
    """
    image = read_placed(hf, scan, plan, plan.image)
    calibration = read_placed(hf, scan, plan, plan.calibration)
    if options.prewhiten:
        unmix = whitening(hf, scan, plan)
        image, calibration = (
            np.einsum("ij,njk->nik", unmix, lines).astype(np.complex64)
            for lines in (image, calibration)
        )
    kspace, acquired = place_lines(plan, image, calibration)
    mask, fully_sampled = sampling(acquired, plan.padding)
    attrs = _attributes(scan, plan, options.prewhiten)
    targets = {}
    if fully_sampled:
        targets[RSS_KEY] = rss_target(kspace, plan.recon_size)
        if plan.shape[1] == 1:
            targets[ESC_KEY] = targets[RSS_KEY]
        main = targets[ESC_KEY if plan.shape[1] == 1 else RSS_KEY]
        attrs.update(max=float(main.max()), norm=float(np.linalg.norm(main)))
    else:
        band = plan.padding[1] - plan.padding[0]
        attrs["acceleration"] = max(1, round(band / mask.sum()))
        attrs["num_low_frequency"] = num_low_frequency(mask)
    heads = scan.heads[plan.image.acquisitions]
    _, first = np.unique(plan.image.slices, return_index=True)  # lines are in file order
    geometry = np.concatenate([heads[name][first] for name in GEOMETRY_FIELDS], axis=1)
    return ConvertedVolume(
        name_suffix=plan.name_suffix,
        kspace=kspace[:, 0] if plan.shape[1] == 1 else kspace,
        mask=None if fully_sampled else mask,
        targets=targets,
        xml=scan.xml,
        geometry=geometry.astype(np.float32),
        attrs=attrs,
    )


def read_plans(hf: h5py.File, options: ConversionOptions) -> tuple[RawScan, list[VolumePlan]]:
    """The headers of an open ISMRMRD file and the volumes it becomes, every structural problem
    found (no samples are read).

    Raises:
        IsmrmrdError: the reason the file cannot be converted, in one line.
    """
    scan = read_scan(hf)
    return scan, plan_volumes(scan, options)


def convert(hf: h5py.File, options: ConversionOptions) -> Iterator[ConvertedVolume]:
    """Every volume of an open ISMRMRD file, one at a time; all are planned (and so checked)
    before the first is built.

    Raises:
        IsmrmrdError: the reason the file cannot be converted, in one line.
    """
    scan, plans = read_plans(hf, options)
    for plan in plans:
        yield build_volume(hf, scan, plan, options)


def store_volume(hf: h5py.File, volume: ConvertedVolume) -> None:
    """Writes a converted volume into an open (new) HDF5 file in fastMRI's layout."""
    hf.create_dataset(KSPACE_KEY, data=volume.kspace)
    for key, target in volume.targets.items():
        hf.create_dataset(key, data=target)
    if volume.mask is not None:
        hf.create_dataset(MASK_KEY, data=volume.mask)
    hf.create_dataset(HEADER_KEY, data=volume.xml)
    hf.create_dataset(SLICE_GEOMETRY_KEY, data=volume.geometry)
    hf.attrs.update(volume.attrs)
