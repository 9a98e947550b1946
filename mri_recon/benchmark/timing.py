"""Timing two callables fairly on a shared machine, and the machine's matrix-product peak.

``alternate`` runs two callables, A (ours) and B (the reference), alternately, call by call, so
both see the same load; a ``Comparison`` reports each side's median and the median of the
per-pair ratios B / A (for ours against fastMRI: above 1, ours is faster). ``gemm_peak`` is the
best rate of large square matrix products.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch


@dataclass
class Comparison:
    """One case timed against its reference.

    Attributes:
        section: ``train``, ``inference``, ``data``, ``layers`` or ``contention``.
        case: what was timed, in words.
        ours: seconds per call of side A (ours), one entry per repeat.
        reference: seconds per call of side B (the reference), one entry per repeat.
        per: how many slices one call handles (times are reported per slice).
        labels: what the two sides are (A, B).
        settings: the case's settings, for the JSON.
    """

    section: str
    case: str
    ours: list[float]
    reference: list[float]
    per: int = 1
    labels: tuple[str, str] = ("ours", "fastMRI")
    settings: dict = field(default_factory=dict)

    @property
    def ours_ms(self) -> float:
        """Median milliseconds per slice of side A."""
        return statistics.median(self.ours) * 1e3 / self.per

    @property
    def reference_ms(self) -> float:
        """Median milliseconds per slice of side B."""
        return statistics.median(self.reference) * 1e3 / self.per

    @property
    def ratio(self) -> float:
        """Median over the pairs of B's time / A's (ours against fastMRI: the speed-up)."""
        return statistics.median(r / o for o, r in zip(self.ours, self.reference))

    def as_dict(self) -> dict:
        """The comparison for the JSON report."""
        return {
            "section": self.section,
            "case": self.case,
            "labels": list(self.labels),
            "a_ms_per_slice": self.ours_ms,
            "b_ms_per_slice": self.reference_ms,
            "b_over_a": self.ratio,
            "a_s": self.ours,
            "b_s": self.reference,
            "slices_per_call": self.per,
            "settings": self.settings,
        }


def seconds(fn: Callable[[], object]) -> float:
    """Wall-clock seconds of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def alternate(
    ours: Callable[[], object], reference: Callable[[], object], repeats: int, warmup: int = 1
) -> tuple[list[float], list[float]]:
    """Seconds of ``repeats`` calls of each, alternating (which goes first alternates too),
    after ``warmup`` untimed calls of each."""
    for _ in range(warmup):
        ours(), reference()
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(repeats):
        order = ((ours, times[0]), (reference, times[1]))
        for fn, bucket in order if i % 2 == 0 else order[::-1]:
            bucket.append(seconds(fn))
    return times


def gemm_peak(dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    """The best GFLOP/s of ``size`` x ``size`` matrix products in ``dtype`` (after a warm-up)."""
    a, b = (torch.randn(size, size).to(dtype) for _ in range(2))
    out = torch.empty(size, size, dtype=dtype)
    torch.mm(a, b, out=out)
    best = min(seconds(lambda: torch.mm(a, b, out=out)) for _ in range(repeats))
    return 2 * size**3 / best / 1e9
