"""The compressed-sensing baseline: the classical reconstruction a reviewer expects beside
zero-filled and the networks, from SigPy (``sigpy.mri.app``), as fastMRI's paper made its CS
baselines with BART's ``pics``.

For one slice of undersampled k-space ``y`` (coils, rows, columns), zero where not sampled:

1. scale: ``y`` is divided by the peak of its zero-filled image (root sum of squares of the coil
   images), so the regularisation weight (``CsOptions.cs_weight``) means the same on any data;
2. sensitivity maps, multicoil only, from the k-space centre: SigPy's ``JsenseRecon`` (joint
   estimation on the central 24 x 24 k-space points, sampled or not; regularised as NLINV) or
   ``EspiritCalib`` (ESPIRiT on the fully sampled centre lines, up to 24); single-coil data has
   one map of ones, so the problem is the plain regularised one;
3. solve ``min_x 1/2 ||P F S x - y||^2 + weight * R(x)`` with SigPy's ``L1WaveletRecon``
   (R = L1 norm of Daubechies-4 wavelet coefficients) or ``TotalVariationRecon`` (R = total
   variation), ``CsOptions.cs_iterations`` iterations, the data term on the sampled points
   (``weights`` = the mask);
4. the magnitude, scaled back, centre-cropped to the target size like every other method.

SigPy sizes its solvers' steps by a power iteration from a random start (``sigpy.app.MaxEig``,
NumPy's or CuPy's global generator): ``cs_image`` seeds that generator with ``SEED`` for each
slice (and gives NumPy's state back after, as ``sigpy.mri.poisson`` does), so a slice's
reconstruction is the same on every run; unseeded, 20 iterations of TV differ by 0.2% of the peak.

SigPy runs on the GPU through CuPy: ``CompressedSensing`` uses the CUDA device the run selected
(``--accelerator``) when CuPy is installed, the CPU otherwise. It runs slice by slice; its time
per slice is kept (``seconds_per_slice``) for the reports.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mri_recon.data.varnet_transform import VarNetSample
from mri_recon.options import CsOptions, MaskSettings

CALIBRATION_WIDTH = 24  # SigPy's default k-space calibration width (JSENSE, ESPIRiT)
JSENSE_KERNEL_WIDTH = 8  # k-space width of JSENSE's sensitivity kernels (smooth maps)
JSENSE_WEIGHT = 1e-3  # NLINV's regularisation of JSENSE (unregularised, it diverges at 8x)
ESPIRIT_KERNEL_WIDTH = 6  # ESPIRiT's k-space kernel (SigPy's and BART's default)
ESPIRIT_LINES = 4  # the fewest fully sampled centre lines ESPIRiT takes (a kernel of 3)
NAME = "CS"  # how reports and figures name the baseline
SEED = 0  # SigPy's power iterations start here (see module)


def sigpy_device(device: torch.device) -> Any:
    """The SigPy device for a torch device: the same CUDA device when CuPy is installed, else
    the CPU (SigPy's GPU arrays are CuPy's)."""
    import sigpy

    if device.type == "cuda" and sigpy.config.cupy_enabled:
        return sigpy.Device(device.index or 0)
    return sigpy.cpu_device


@contextmanager
def seeded(device: Any) -> Iterator[None]:
    """SigPy's random numbers on ``device`` start from ``SEED`` inside the block; NumPy's global
    state is given back after it (CuPy's generator, on a GPU, is left seeded)."""
    state = np.random.get_state()
    np.random.seed(SEED)
    if device.id >= 0:
        device.xp.random.seed(SEED)
    try:
        yield
    finally:
        np.random.set_state(state)


def centre_lines(mask: np.ndarray) -> int:
    """How many phase-encode lines around the centre of ``mask`` (columns) are all sampled."""
    sampled = np.asarray(mask, bool).reshape(-1)
    centre = len(sampled) // 2
    if not sampled[centre]:
        return 0
    left = centre
    while left > 0 and sampled[left - 1]:
        left -= 1
    right = centre
    while right < len(sampled) - 1 and sampled[right + 1]:
        right += 1
    return right - left + 1


def sensitivity_maps(
    kspace: np.ndarray, weights: np.ndarray, options: CsOptions, device: Any = None
) -> np.ndarray:
    """Coil sensitivity maps of one multicoil slice, estimated from its k-space centre.

    Args:
        kspace: (coils, rows, columns) complex64 undersampled k-space, scaled (see module).
        weights: (rows, columns) 1 where sampled, 0 elsewhere.
        options: ``cs_sensitivities`` picks JSENSE or ESPIRiT.
        device: a SigPy device (default: the CPU).

    Returns:
        (coils, rows, columns) complex64 maps, on ``device``.

    Raises:
        ValueError: ESPIRiT and too few fully sampled centre lines for its kernel.
    """
    import sigpy
    from sigpy.mri.app import EspiritCalib, JsenseRecon

    device = device if device is not None else sigpy.cpu_device
    if options.cs_sensitivities == "jsense":
        return JsenseRecon(
            sigpy.to_device(kspace, device),
            mps_ker_width=JSENSE_KERNEL_WIDTH,
            ksp_calib_width=CALIBRATION_WIDTH,
            lamda=JSENSE_WEIGHT,
            weights=sigpy.to_device(weights, device),
            device=device,
            show_pbar=False,
        ).run()
    width = min(CALIBRATION_WIDTH, centre_lines(weights[0]))
    kernel = min(ESPIRIT_KERNEL_WIDTH, width - 1)
    if width < ESPIRIT_LINES:
        raise ValueError(
            f"cs-sensitivities: espirit needs at least {ESPIRIT_LINES} fully sampled centre "
            f"lines, the mask has {width}; use jsense"
        )
    return EspiritCalib(
        sigpy.to_device(kspace, device),
        calib_width=width,
        kernel_width=kernel,
        crop=0.0,  # no eigenvalue cropping: with few centre lines it cuts into the object
        device=device,
        show_pbar=False,
    ).run()


def cs_image(
    kspace: np.ndarray, mask: np.ndarray, options: CsOptions | None = None, device: Any = None
) -> np.ndarray:
    """The compressed-sensing reconstruction of one slice (steps 1-3 of the module).

    Args:
        kspace: (coils, rows, columns) complex undersampled k-space (1 coil: single-coil data).
        mask: (columns,) the sampled phase-encode lines.
        options: regulariser, weight, iterations, maps (default: ``CsOptions()``).
        device: a SigPy device (default: the CPU).

    Returns:
        (rows, columns) complex64 image in the k-space's scale, on the CPU.
    """
    import sigpy
    from sigpy.mri.app import L1WaveletRecon, TotalVariationRecon

    options = options or CsOptions()
    device = device if device is not None else sigpy.cpu_device
    kspace = np.asarray(kspace, np.complex64)
    coils, rows, columns = kspace.shape
    weights = np.broadcast_to(np.asarray(mask, np.float32).reshape(1, columns), (rows, columns))
    weights = np.ascontiguousarray(weights)
    zero_filled = sigpy.rss(sigpy.ifft(kspace, axes=(-2, -1)), axes=(0,))
    scale = float(zero_filled.max())
    if not scale > 0:  # nothing sampled: the zero image is the only consistent one
        return np.zeros((rows, columns), np.complex64)
    y = kspace / np.float32(scale)
    with seeded(sigpy.Device(device)):
        if coils == 1:
            maps = np.ones((1, rows, columns), np.complex64)
        else:
            maps = sensitivity_maps(y, weights, options, device)
        app = L1WaveletRecon if options.cs_regularizer == "wavelet" else TotalVariationRecon
        image = app(
            sigpy.to_device(y, device),
            sigpy.to_device(maps, device),
            options.cs_weight,
            weights=sigpy.to_device(weights, device),
            device=device,
            max_iter=options.cs_iterations,
            show_pbar=False,
        ).run()
    return sigpy.to_device(image, sigpy.cpu_device).astype(np.complex64) * np.float32(scale)


class CompressedSensing:
    """The baseline as the volume loop runs it: a batch of ``VarNetSample``s in, the magnitude
    images out, cropped as the networks' are.

    Args:
        options: regulariser, weight, iterations, maps.
        device: the run's device; SigPy uses it when it is CUDA and CuPy is installed.
    """

    name = NAME

    def __init__(self, options: CsOptions | None = None, device: torch.device | None = None):
        self.options = options or CsOptions()
        self.device = sigpy_device(device if device is not None else torch.device("cpu"))
        self.seconds = 0.0
        self.slices = 0

    def __call__(self, batch: VarNetSample) -> Tensor:
        """(batch, H, W) float32 magnitudes of the batch's slices, on the CPU."""
        start = time.perf_counter()
        kspace = torch.view_as_complex(batch.masked_kspace.contiguous()).numpy()
        masks = batch.mask.reshape(len(kspace), -1).numpy()
        images = [cs_image(k, m, self.options, self.device) for k, m in zip(kspace, masks)]
        magnitude = torch.from_numpy(np.abs(np.stack(images)).astype(np.float32))
        self.seconds += time.perf_counter() - start
        self.slices += len(images)
        return batch.crop(magnitude)

    def check_masks(self, mask: MaskSettings, widths: dict[int, Path]) -> None:
        """Before any work: ESPIRiT gets enough fully sampled centre lines from every centre
        fraction of ``mask`` at every k-space width (``SliceDataset.unmasked_widths``).

        Raises:
            ValueError: naming the first file of a width with too few lines.
        """
        if self.options.cs_sensitivities != "espirit":
            return
        for width, fname in widths.items():
            for fraction in mask.center_fractions:
                lines = round(width * fraction)  # fastmri's masks' centre
                if lines < ESPIRIT_LINES:
                    raise ValueError(
                        f"{fname}: cs-sensitivities: espirit needs at least {ESPIRIT_LINES} "
                        f"fully sampled centre lines, centre fraction {fraction:g} of {width} "
                        f"columns gives {lines}; use jsense or a larger --center-fractions"
                    )

    @property
    def device_name(self) -> str:
        """Where SigPy runs: ``cpu`` or ``cuda:N``."""
        return "cpu" if self.device.id < 0 else f"cuda:{self.device.id}"

    def seconds_per_slice(self) -> float | None:
        """The mean time per slice so far (``None`` before the first)."""
        return self.seconds / self.slices if self.slices else None

    def describe(self) -> str:
        """The settings and the time per slice, for reports."""
        text = self.options.describe()
        per_slice = self.seconds_per_slice()
        if per_slice is not None:
            text += f"; {per_slice:.2f} s per slice on {self.device_name}"
        return text
