"""A training step with a second torch job on the machine: how much slower than alone.

The competitor is a separate Python process doing float32 matrix products with torch's default
thread count (a second training or a notebook on the same machine). The step is the product's:
the demo recipe's ``ReconModule`` step (``steps.train_step``), with the thread count fitted by
``ThreadTuner`` as ``mri-recon fit`` fits it. The slowdown is the median step time with the
competitor over the median without it, both from the same run.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch

from mri_recon.benchmark.timing import seconds
from mri_recon.training.thread_tuning import ThreadTuner

COMPETITOR = """
import torch
a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
print("ready", flush=True)
while True:
    a @ b
"""


class Competitor:
    """A process running torch matrix products until stopped (a context manager)."""

    def __enter__(self) -> Competitor:
        self.process = subprocess.Popen(
            [sys.executable, "-c", COMPETITOR], stdout=subprocess.PIPE, text=True
        )
        self.process.stdout.readline()  # torch imported, products running
        time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def timed_steps(step: Callable[[], None], steps: int, tune: bool) -> list[float]:
    """Seconds of ``steps`` calls of ``step``; with ``tune`` a ``ThreadTuner`` fits the thread
    count between them, as ``mri-recon fit`` does (torch's count is restored afterwards)."""
    threads = torch.get_num_threads()
    tuner = ThreadTuner() if tune else None
    times = []
    try:
        for _ in range(steps):
            times.append(seconds(step))
            if tuner is not None:
                tuner.record(times[-1])
    finally:
        torch.set_num_threads(threads)
    return times


def slowdown(step: Callable[[], None], steps: int, tune: bool = True) -> tuple[list, list]:
    """Step times alone and with a competitor (after one warm-up step alone).

    Returns:
        (seconds per step alone, seconds per step with the competitor running).
    """
    step()
    alone = timed_steps(step, steps, tune)
    with Competitor():
        busy = timed_steps(step, steps, tune)
    return alone, busy


def ratio(alone: list[float], busy: list[float]) -> float:
    """Median step time with the competitor over the median alone."""
    return statistics.median(busy) / statistics.median(alone)
