"""A training step with a second torch job on the machine: how much slower than alone.

The competitor is a separate Python process doing float32 matrix products with torch's default
thread count (a second training or a notebook on the same machine). The step is the product's:
the demo recipe's ``ReconModule`` step (``steps.train_step``), with the thread count fitted by
``ThreadTuner`` as ``mri-recon fit`` fits it. The slowdown is the median step time with the
competitor over the median without it, both from the same run, each after the steps in which
the tuner reacts to the change of load (a training runs hundreds of steps; those few are
reported apart).
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

# Steps after a change of load before timing: the tuner's window (3) twice, a probe and its answer.
SETTLE = 6
# Ends with the benchmark even when that is killed: it stops once its parent process is gone.
COMPETITOR = """
import os
import torch
parent = os.getppid()
a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
print("ready", flush=True)
while os.getppid() == parent:
    a @ b
"""


class Competitor:
    """A process running torch matrix products until stopped (a context manager)."""

    def __enter__(self) -> Competitor:
        # Its own session: a Ctrl-C meant for the benchmark does not reach it (the benchmark
        # stops it), and it has nothing to say on stderr.
        self.process = subprocess.Popen(
            [sys.executable, "-c", COMPETITOR],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self.process.stdout.readline()  # torch imported, products running
        time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def timed_steps(step: Callable[[], None], steps: int, tuner: ThreadTuner | None) -> list[float]:
    """Seconds of ``steps`` calls of ``step``, each reported to ``tuner`` (when given), which
    fits the thread count between them as ``mri-recon fit`` does."""
    times = []
    for _ in range(steps):
        times.append(seconds(step))
        if tuner is not None:
            tuner.record(times[-1])
    return times


def slowdown(
    step: Callable[[], None], steps: int, tune: bool = True, settle: int = SETTLE
) -> tuple[list, list, list]:
    """Step times alone, then with a competitor, as one training run sees them.

    One tuner (``tune``) follows both phases, as in a run during which a second job starts. Each
    phase first runs ``settle`` steps (kept apart: the tuner's reaction to the change of load),
    then the ``steps`` timed ones. torch's thread count is restored afterwards.

    Returns:
        (seconds per timed step alone, per timed step with the competitor, per settling step:
        alone's then busy's).
    """
    threads = torch.get_num_threads()
    tuner = ThreadTuner() if tune else None
    try:
        step()
        settling = timed_steps(step, settle, tuner)
        alone = timed_steps(step, steps, tuner)
        with Competitor():
            settling += timed_steps(step, settle, tuner)
            busy = timed_steps(step, steps, tuner)
    finally:
        torch.set_num_threads(threads)
    return alone, busy, settling


def ratio(alone: list[float], busy: list[float]) -> float:
    """Median step time with the competitor over the median alone."""
    return statistics.median(busy) / statistics.median(alone)
