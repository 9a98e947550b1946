"""The MR physics of the simulator: object phase, coil sensitivities, sampling grid and noise.

Naive simulation (FFT of a magnitude image on the reconstruction grid) commits "data crimes": its
k-space is Hermitian-symmetric, noiseless and has no truncation, so methods look better on it than
on scanner data. Here instead:
- the object gets a smooth, spatially varying phase, and each coil a smooth complex sensitivity;
- the object is drawn at ``SUPERSAMPLE`` times the final resolution and its k-space truncated to
  the acquired matrix, so edges ring as in a real acquisition instead of being exactly band-limited;
- the readout (H) axis is oversampled 2x: the object fills the central R x R of a (2R, W) field;
- complex Gaussian noise is added to every k-space sample; edge phase-encode lines may be left
  unacquired (zero), as in fastMRI's files.

Coordinates are in units of the object's half width: the R x R object spans [-1, 1] on both axes.
The centred, orthonormal FFTs are fastmri's ``fft2c``/``ifft2c`` done with NumPy arrays and
``scipy.fft`` (single precision stays single); on torch tensors the shifts alone took 20x longer.
"""

import numpy as np
import scipy.fft

AXES = (-2, -1)

# The object is drawn this many times finer than the acquired resolution.
SUPERSAMPLE = 2
# Readout oversampling: H = READOUT_OVERSAMPLING * R.
READOUT_OVERSAMPLING = 2


def grid(height: int, width: int, recon_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(y, x) pixel-centre coordinates of a (height, width) grid whose central R x R is [-1, 1]²."""
    y = ((np.arange(height) + 0.5) - height / 2) * 2 / recon_size
    x = ((np.arange(width) + 0.5) - width / 2) * 2 / recon_size
    return np.meshgrid(-y, x, indexing="ij")


def random_phase_coefficients(rng: np.random.Generator) -> np.ndarray:
    """Coefficients of a smooth object phase: a quadratic in (x, y) plus a term linear in z."""
    return rng.normal(0, [1.0, 0.3, 0.3, 0.4, 0.4, 0.3, 0.3])


def phase_map(coefficients: np.ndarray, y: np.ndarray, x: np.ndarray, z: float) -> np.ndarray:
    """The object phase (radians) at slice position ``z`` in [-1, 1]: smooth over the whole grid."""
    c0, cx, cy, cxx, cyy, cxy, cz = coefficients
    return c0 + cx * x + cy * y + cxx * x**2 + cyy * y**2 + cxy * x * y + cz * z


def coil_maps(rng: np.random.Generator, num_coils: int, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Smooth complex sensitivities of loop coils on a ring around the object.

    A loop of radius ``a`` has the on-axis Biot-Savart field ``a² / (a² + d²)^1.5`` at distance
    ``d``; each coil's magnitude follows that falloff from its centre, and its phase is a constant
    plus a gentle ramp along the ring. The maps are scaled so that their root-sum-of-squares
    averages 1 over the object's field of view. One coil gives a uniform sensitivity (single-coil).

    Args:
        rng: random generator (ring radius, rotation, loop sizes, phases).
        num_coils: number of coils.
        y, x: grid coordinates from ``grid``.

    Returns:
        (num_coils, *y.shape) complex64 sensitivities.
    """
    if num_coils == 1:
        return np.ones((1, *y.shape), dtype=np.complex64)
    ring = rng.uniform(1.2, 1.5)
    angles = 2 * np.pi * np.arange(num_coils) / num_coils + rng.uniform(0, 2 * np.pi)
    maps = []
    for angle in angles:
        loop = rng.uniform(0.7, 1.0)
        cy, cx = ring * np.sin(angle), ring * np.cos(angle)
        distance2 = (y - cy) ** 2 + (x - cx) ** 2
        magnitude = loop**3 / (loop**2 + distance2) ** 1.5
        along_ring = -(x - cx) * np.sin(angle) + (y - cy) * np.cos(angle)
        slope = rng.uniform(0.3, 0.8) * rng.choice([-1.0, 1.0])
        phase = rng.uniform(-np.pi, np.pi) + slope * along_ring
        maps.append(magnitude * np.exp(1j * phase))
    maps = np.stack(maps)
    inside = (np.abs(y) <= 1) & (np.abs(x) <= 1)
    rss = np.sqrt((np.abs(maps) ** 2).sum(axis=0))
    return (maps / rss[inside].mean()).astype(np.complex64)


def place_object(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Zero-pads a square image into the centre of a (height, width) field of view."""
    top, left = (height - image.shape[0]) // 2, (width - image.shape[1]) // 2
    field = np.zeros((height, width), dtype=image.dtype)
    field[top : top + image.shape[0], left : left + image.shape[1]] = image
    return field


def fft2c(image: np.ndarray) -> np.ndarray:
    """Centred orthonormal 2-D FFT over the last two axes (fastmri's ``fft2c``)."""
    shifted = np.fft.ifftshift(image, axes=AXES)
    return np.fft.fftshift(scipy.fft.fft2(shifted, norm="ortho"), axes=AXES)


def ifft2c(kspace: np.ndarray) -> np.ndarray:
    """Centred orthonormal 2-D inverse FFT over the last two axes (fastmri's ``ifft2c``)."""
    shifted = np.fft.ifftshift(kspace, axes=AXES)
    return np.fft.fftshift(scipy.fft.ifft2(shifted, norm="ortho"), axes=AXES)


def center_crop(images: np.ndarray, size: int) -> np.ndarray:
    """The central ``size`` x ``size`` of the last two axes, placed as fastmri's ``center_crop``."""
    top, left = (images.shape[-2] - size) // 2, (images.shape[-1] - size) // 2
    return images[..., top : top + size, left : left + size]


def truncated_kspace(images: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Centred k-space of fine images, truncated to the central ``shape`` of the spectrum.

    The result is scaled so that its inverse FFT has the images' intensities at the coarse grid.

    Args:
        images: (..., Hs, Ws) complex images on the fine grid.
        shape: (H, W) acquired matrix, at most (Hs, Ws).

    Returns:
        (..., H, W) complex64 k-space.
    """
    kspace = fft2c(images)
    fine_h, fine_w = images.shape[-2:]
    top, left = fine_h // 2 - shape[0] // 2, fine_w // 2 - shape[1] // 2
    kspace = kspace[..., top : top + shape[0], left : left + shape[1]]
    return (kspace * np.sqrt(shape[0] * shape[1] / (fine_h * fine_w))).astype(np.complex64)


def add_noise(kspace: np.ndarray, noise_level: float, rng: np.random.Generator) -> np.ndarray:
    """Adds circular complex Gaussian noise with ``E|n|² = noise_level²`` to every sample."""
    noise = rng.standard_normal((2, *kspace.shape), dtype=np.float32) * (noise_level / np.sqrt(2))
    return (kspace + noise[0] + 1j * noise[1]).astype(np.complex64)


def zero_unacquired(kspace: np.ndarray, pe_first: int, pe_last: int) -> np.ndarray:
    """Zeros the phase-encode lines (last axis) outside ``[pe_first, pe_last]``, in place."""
    kspace[..., :pe_first] = 0
    kspace[..., pe_last + 1 :] = 0
    return kspace


def coil_images(kspace: np.ndarray, recon_size: int) -> np.ndarray:
    """|ifft2c(kspace)| centre-cropped to R x R: (..., H, W) complex -> (..., R, R) float32."""
    return np.abs(center_crop(ifft2c(kspace), recon_size)).astype(np.float32)


def rss_target(kspace: np.ndarray, recon_size: int) -> np.ndarray:
    """fastMRI's ``reconstruction_rss``: RSS over coils of |ifft2c|, cropped. (S, C, H, W) input."""
    return np.sqrt((coil_images(kspace, recon_size) ** 2).sum(axis=1))


def esc_target(kspace: np.ndarray, recon_size: int) -> np.ndarray:
    """fastMRI's ``reconstruction_esc``: |ifft2c| of single-coil (S, H, W) k-space, cropped."""
    return coil_images(kspace, recon_size)
