"""The slice viewer's content: for each volume (at each acceleration) its slices as PNG panels,
every method beside the target and their error maps, with the slice's metrics.

The evaluation loops hand each scored volume to ``Viewer.add`` while its images are in memory;
only the encoded panels are kept. The size of the report is bounded (``ViewerLimits``): at most
``volumes`` volumes (the first ones scored; every volume stays in the tables), at most
``slices`` evenly spaced slices of each, and panels at most ``side`` pixels on their longer
side (larger images are averaged over whole blocks, ``figures.downsample``). Every panel of a
slice is on the target slice's grey scale (``figures.comparison_panels``, the windowing of the
PNG figures); error maps are ``|method - target|`` times ``ERROR_GAIN``.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mri_recon.figures import comparison_panels, downsample, png_data_uri, white_level
from mri_recon.metrics import psnr, ssim

ERROR_GAIN = 5.0  # as the PNG figures' error maps


@dataclass(frozen=True)
class ViewerLimits:
    """What bounds the report's size: at most ``volumes`` x ``slices`` slices, each with one
    panel per method, the target and one error map per method, of at most ``side`` x ``side``
    8-bit pixels before PNG compression."""

    volumes: int = 12
    slices: int = 16
    side: int = 192

    def __post_init__(self) -> None:
        for name in ("volumes", "slices", "side"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"viewer limit {name}: must be a positive integer, got {value!r}")


def _finite(value: float) -> float | None:
    """``value``, or ``None`` for NaN and infinities (a slice equal to its target has an
    infinite PSNR), as strict JSON holds it."""
    return float(value) if math.isfinite(value) else None


def shown_slices(count: int, most: int) -> list[int]:
    """``most`` evenly spaced slice indices of ``count`` (all of them when there are fewer),
    first and last included."""
    if count <= most:
        return list(range(count))
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, most)})


@dataclass
class Viewer:
    """Collects the viewer's volumes as the evaluation scores them.

    Attributes:
        limits: the size bound.
        volumes: one entry per volume shown (``label``, ``fname``, ``acceleration``,
            ``names``: the panels' names, ``errors``: the error panels' names, ``shape``:
            the slices' size as scored, ``factor``: the downsampling, ``slices``: per slice its
            ``index``, ``panels`` and ``errors`` (data URIs) and ``metrics`` per method).
        omitted: the volumes scored but left out of the viewer (over ``limits.volumes``).
    """

    limits: ViewerLimits = field(default_factory=ViewerLimits)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    omitted: int = 0

    def add(
        self,
        fname: str,
        acceleration: int | None,
        images: Mapping[str, np.ndarray],
        target: np.ndarray,
    ) -> None:
        """Adds one scored volume (until the limit is reached).

        Args:
            fname: the volume's file name.
            acceleration: its acceleration (``None`` where unknown: predictions from folders).
            images: each method's (slices, H, W) magnitude volume, as scored, in table order.
            target: the (slices, H, W) target it was scored against.
        """
        if len(self.volumes) >= self.limits.volumes:
            self.omitted += 1
            return
        target = np.asarray(target, np.float64)
        maxval = float(target.max())  # fastMRI's data range: the target volume's maximum
        factor = max(1, -(-max(target.shape[1:]) // self.limits.side))
        slices = []
        for index in shown_slices(len(target), self.limits.slices):
            truth = target[index]
            shown = [np.asarray(images[m][index], np.float64) for m in images]
            errors = [np.abs(image - truth) for image in shown]
            panels = comparison_panels(
                [downsample(image, factor) for image in shown],
                downsample(truth, factor),
                [downsample(error, factor) for error in errors],
                ERROR_GAIN,
                white=white_level(truth),  # from the full-resolution target slice
            )
            uris = [png_data_uri(panel) for panel in panels]
            metrics = {
                method: {
                    "ssim": _finite(ssim(truth[None], image[None], maxval=maxval)),
                    "psnr": _finite(psnr(truth[None], image[None], maxval=maxval)),
                }
                for method, image in zip(images, shown)
            }
            count = len(shown) + 1
            slices.append(
                {"index": index, "panels": uris[:count], "errors": uris[count:], "metrics": metrics}
            )
        label = fname if acceleration is None else f"{fname}  {acceleration}x"
        self.volumes.append(
            {
                "label": label,
                "fname": fname,
                "acceleration": acceleration,
                "names": [*images, "target"],
                "errors": [f"|{method} - target| x{ERROR_GAIN:g}" for method in images],
                "shape": list(target.shape),
                "factor": factor,
                "slices": slices,
            }
        )
