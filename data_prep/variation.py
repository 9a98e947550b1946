"""Per-volume variation: many different "patients" from one image stack.

Each volume draws a slice range, an in-plane rotation, scale, shift and flip, and a contrast
(gamma) curve, and resamples its slices onto a square grid of the requested size. Without it, every
volume made from one template would be the same volume with different noise.
"""

import numpy as np
from scipy import ndimage

# Ranges of the random in-plane view and contrast, one draw per volume.
MAX_ROTATION_DEG = 12.0
SCALE_RANGE = (0.88, 1.04)
MAX_SHIFT = 0.04  # fraction of the field of view
GAMMA_RANGE = (0.75, 1.35)
MAX_SLICE_STRIDE = 4


def foreground_slices(stack: np.ndarray) -> tuple[int, int]:
    """The first and last slice whose mean intensity reaches 30% of the brightest slice's mean."""
    means = stack.reshape(len(stack), -1).mean(axis=1)
    inside = np.flatnonzero(means >= 0.3 * means.max())
    return int(inside[0]), int(inside[-1])


def choose_slices(rng: np.random.Generator, stack: np.ndarray, num_slices: int) -> np.ndarray:
    """Indices of ``num_slices`` evenly spaced slices at a random place in the stack's foreground.

    The spacing is drawn too (1 to ``MAX_SLICE_STRIDE`` slices), as thick clinical slices are.
    Stacks with fewer slices than asked for give all their slices.
    """
    if num_slices >= len(stack):
        return np.arange(len(stack))
    first, last = foreground_slices(stack)
    if last - first + 1 < num_slices:
        first, last = 0, len(stack) - 1
    max_stride = max(1, min(MAX_SLICE_STRIDE, (last - first) // max(num_slices - 1, 1)))
    stride = int(rng.integers(1, max_stride + 1))
    start = int(rng.integers(first, last - stride * (num_slices - 1) + 1))
    return start + stride * np.arange(num_slices)


def view_transform(
    rng: np.random.Generator, in_shape: tuple[int, int], size: int
) -> tuple[np.ndarray, np.ndarray]:
    """A random (matrix, offset) mapping output pixels to input pixels for ``affine_transform``.

    The input slice is fitted, aspect kept, into the square output, then rotated, scaled, shifted
    and possibly flipped left-right about its centre.
    """
    side = max(in_shape)
    angle = np.deg2rad(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG))
    scale = rng.uniform(*SCALE_RANGE)
    flip = rng.choice([-1.0, 1.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = rotation @ np.diag([1.0, flip]) * side / (size * scale)
    shift = rng.uniform(-MAX_SHIFT, MAX_SHIFT, size=2) * side
    in_centre = (np.asarray(in_shape) - 1) / 2
    out_centre = np.full(2, (size - 1) / 2)
    return matrix, in_centre + shift - matrix @ out_centre


def vary_stack(
    rng: np.random.Generator, stack: np.ndarray, num_slices: int, size: int
) -> np.ndarray:
    """One random volume from a stack: slice choice, in-plane view, resampling, contrast.

    Args:
        rng: random generator for this volume.
        stack: (depth, H, W) non-negative magnitude images.
        num_slices: slices wanted (fewer when the stack is thinner).
        size: side of the square output slices in pixels.

    Returns:
        (slices, size, size) float32 volume scaled to a maximum of 1.
    """
    indices = choose_slices(rng, stack, num_slices)
    matrix, offset = view_transform(rng, stack.shape[1:], size)
    volume = np.stack(
        [
            ndimage.affine_transform(
                stack[i].astype(np.float64), matrix, offset, output_shape=(size, size), order=1
            )
            for i in indices
        ]
    )
    volume = np.clip(volume, 0, None)
    # A robust maximum keeps a few hot voxels from darkening the whole volume.
    volume = np.clip(volume / max(np.percentile(volume, 99.5), 1e-12), 0, 1)
    volume **= rng.uniform(*GAMMA_RANGE)
    return (volume / max(volume.max(), 1e-12)).astype(np.float32)
