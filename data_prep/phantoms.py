"""Procedural phantoms: random ellipsoid volumes and Shepp-Logan-like heads, sliced axially.

A phantom is a sum of ellipsoids, each adding its intensity inside itself (as in Shepp and Logan's
head phantom). Slicing real 3-D ellipsoids, rather than drawing unrelated 2-D ellipses per slice,
makes neighbouring slices of one volume agree the way anatomy does.
"""

import numpy as np

# Where the slices of a phantom volume lie along z, in the ellipsoids' unit coordinates.
SLICE_EXTENT = 0.5


def _random_ellipsoids(rng: np.random.Generator, count: int, radius: float) -> np.ndarray:
    """Rows of (cx, cy, cz, ax, ay, az, angle, intensity) for ellipsoids inside a sphere."""
    centre = rng.uniform(-radius, radius, size=(count, 3)) * 0.6
    axes = rng.uniform(0.08, 0.35, size=(count, 3)) * radius
    angle = rng.uniform(0, np.pi, size=(count, 1))
    intensity = rng.uniform(0.1, 0.5, size=(count, 1)) * rng.choice([-1.0, 1.0], size=(count, 1))
    return np.hstack([centre, axes, angle, intensity])


def ellipses_phantom(rng: np.random.Generator) -> np.ndarray:
    """A body of random overlapping ellipsoids on a soft-tissue background."""
    body = np.array([[0, 0, 0, rng.uniform(0.75, 0.9), rng.uniform(0.6, 0.9), 1.0, 0, 0.4]])
    parts = _random_ellipsoids(rng, int(rng.integers(6, 14)), radius=0.6)
    parts[:, 7] = np.abs(parts[:, 7])
    return np.vstack([body, parts])


def head_phantom(rng: np.random.Generator) -> np.ndarray:
    """A Shepp-Logan-like head: bright skull, darker brain, ventricles and random lesions."""
    a, b = rng.uniform(0.62, 0.72), rng.uniform(0.8, 0.92)
    skull = [0, 0, 0, a, b, 1.0, 0, 1.0]
    brain = [0, -0.02, 0, a - 0.05, b - 0.06, 0.95, 0, -rng.uniform(0.6, 0.8)]
    ventricles = [
        [0.2, 0, 0.05, 0.1, 0.3, 0.25, -np.pi / 10, -rng.uniform(0.1, 0.25)],
        [-0.2, 0, 0.05, 0.14, 0.4, 0.3, np.pi / 10, -rng.uniform(0.1, 0.25)],
    ]
    lesions = _random_ellipsoids(rng, int(rng.integers(3, 9)), radius=0.5)
    lesions[:, 7] *= 0.4
    return np.vstack([skull, brain, ventricles, lesions])


def render(ellipsoids: np.ndarray, z: float, size: int) -> np.ndarray:
    """Draws the axial section at height ``z`` of a sum of ellipsoids.

    Args:
        ellipsoids: rows of (cx, cy, cz, ax, ay, az, angle, intensity), unit coordinates.
        z: height of the section, in [-1, 1].
        size: output side in pixels; the image spans [-1, 1] on both axes.

    Returns:
        (size, size) float image, intensities summed where ellipsoids overlap.
    """
    coords = (np.arange(size) + 0.5) / size * 2 - 1
    y, x = np.meshgrid(-coords, coords, indexing="ij")
    image = np.zeros((size, size))
    for cx, cy, cz, ax, ay, az, angle, intensity in ellipsoids:
        height = 1 - ((z - cz) / az) ** 2
        if height <= 0:
            continue
        shrink = np.sqrt(height)
        cos, sin = np.cos(angle), np.sin(angle)
        u = ((x - cx) * cos + (y - cy) * sin) / (ax * shrink)
        v = (-(x - cx) * sin + (y - cy) * cos) / (ay * shrink)
        image[u**2 + v**2 <= 1] += intensity
    return image


def phantom_volume(rng: np.random.Generator, num_slices: int, size: int) -> np.ndarray:
    """A random phantom volume: a head or an ellipse body, with random contrast.

    Args:
        rng: random generator; one draw decides kind, shapes and contrast.
        num_slices: axial slices, evenly spread over the middle of the phantom.
        size: side of each slice in pixels.

    Returns:
        (num_slices, size, size) float32 magnitude volume scaled to a maximum of 1.
    """
    ellipsoids = head_phantom(rng) if rng.random() < 0.5 else ellipses_phantom(rng)
    centre = rng.uniform(-0.1, 0.1)
    heights = centre + np.linspace(-SLICE_EXTENT, SLICE_EXTENT, num_slices) * (num_slices > 1)
    volume = np.stack([render(ellipsoids, z, size) for z in heights])
    volume = np.clip(volume, 0, None) ** rng.uniform(0.7, 1.4)
    return (volume / max(volume.max(), 1e-12)).astype(np.float32)
