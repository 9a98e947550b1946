"""Fitting torch's CPU thread count to what the machine gives this process, while training.

On a quiet machine every core helps a training step. On a shared one each of torch's parallel
regions ends only when all of its threads have run, so a thread the scheduler has put aside
(another job holds its core) stalls the whole region; a step runs hundreds of regions, and with a
second job doing matrix products the step can take many times its quiet time, for torch's own
kernels and more for this project's (measured in docs/benchmarks.md). Fewer threads than cores
then run faster than all of them.

``ThreadTuner`` measures the steps and keeps the thread count that runs them fastest: from time to
time it tries the neighbouring counts (half, double) for a few steps and keeps whichever was
faster, and at once when the step time jumps (fewer threads) or drops (more): the load changed. A
probe that loses doubles the time until the next one, and one whose first step is far slower
ends there, so on a steady machine probing costs next to nothing.

Inductor's CPU kernels are built for the thread count they were compiled at, and dynamo compiles
a network again for every count it meets: a cold compilation each (37-44 s for the demo U-Net's
training step on 2 cores). So a tuner has inductor build kernels for any count
(``cpp.dynamic_threads``): a count met again or for the first time then takes its compiled
kernels from the cache (1.2-1.5 s), for at most about 2% of a step (docs/benchmarks.md,
"Compiled").
``ThreadTuning`` runs it around Lightning's training steps on the CPU (``--thread_tuning.*``);
``tune_threads`` around the step function of a loop of one's own, in one line::

    train_step = tune_threads(train_step)
"""

from __future__ import annotations

import functools
import statistics
import time
from collections import deque
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import pytorch_lightning as pl
import torch
import torch._inductor.config as inductor_config
from pytorch_lightning.callbacks import Callback

P = ParamSpec("P")
R = TypeVar("R")

# A step this much slower (or faster) than at the last decision means the load changed: re-probe.
LOAD_CHANGE = 1.5
# A probed count must be this much faster to replace the current one (noise guard).
MIN_GAIN = 0.93
# A probe whose first step takes this many times the current median ends after that step.
ABANDON = 2.0


class ThreadTuner:
    """Picks torch's intra-op thread count from measured step times. Once one exists, inductor
    compiles CPU kernels for any thread count (see the module's docstring).

    Args:
        max_threads: the most threads to use (default: torch's count when created).
        window: steps timed per count before comparing (their median is compared).
        period: steps between routine probes, doubled after each probe that loses.
        max_period: the longest time between routine probes, in steps.
    """

    def __init__(
        self,
        max_threads: int | None = None,
        window: int = 3,
        period: int = 32,
        max_period: int = 512,
    ) -> None:
        if window < 1 or period < 1 or max_period < period:
            raise ValueError("window and period must be >= 1, max_period >= period")
        self.max_threads = max_threads or torch.get_num_threads()
        self.window, self.base_period, self.max_period = window, period, max_period
        # The first decision comes after the first window: the load at the start is unknown.
        self.period, self.since_decision, self.fewer_next = period, period, True
        self.reference: float | None = None  # median step time at the last decision
        self.previous: int | None = None  # the count a probe started from
        self.recent: dict[int, deque[float]] = {}
        self.threads = 0
        self._set(min(torch.get_num_threads(), self.max_threads))
        inductor_config.cpp.dynamic_threads = True

    def _median(self, threads: int) -> float | None:
        times = self.recent[threads]
        return statistics.median(times) if len(times) == self.window else None

    def _set(self, threads: int, fresh: bool = True) -> None:
        self.threads = threads
        if fresh or threads not in self.recent:
            self.recent[threads] = deque(maxlen=self.window)
        torch.set_num_threads(threads)

    def _candidate(self, slower: bool | None = None) -> int | None:
        """The count to probe next: fewer threads when steps got slower (more load), more when
        they got faster, and in turn half and double the current count for a routine probe."""
        fewer, more = self.threads // 2, self.threads * 2
        if slower is None:
            slower, self.fewer_next = self.fewer_next, not self.fewer_next
        if slower:
            return fewer if fewer >= 1 else None
        return more if more <= self.max_threads else None

    def record(self, seconds: float) -> None:
        """Takes the duration of the step just run at ``self.threads`` threads."""
        self.recent[self.threads].append(seconds)
        if self.previous is not None and len(self.recent[self.threads]) == 1:
            before = self._median(self.previous)
            if before is not None and seconds > ABANDON * before:  # clearly worse: stop here
                self.recent[self.threads].extend([seconds] * (self.window - 1))
        now = self._median(self.threads)
        if now is None:
            return
        if self.previous is not None:  # a probe has run its window: keep the faster count
            before = self._median(self.previous)
            if before is not None and now > MIN_GAIN * before:
                self._set(self.previous, fresh=False)
                self.period, now = min(2 * self.period, self.max_period), before
            else:
                self.period = self.base_period
            self.previous, self.reference, self.since_decision = None, now, 0
            return
        self.since_decision += 1
        if self.reference is None:
            self.reference = now
        changed = not 1 / LOAD_CHANGE < now / self.reference < LOAD_CHANGE
        if changed:
            self.period = self.base_period
        if changed or self.since_decision >= self.period:
            candidate = self._candidate(now > self.reference if changed else None)
            if candidate is None:
                self.reference, self.since_decision = now, 0
            if candidate is not None:
                self.previous = self.threads
                self._set(candidate)


def tune_threads(step: Callable[P, R], max_threads: int | None = None) -> Callable[P, R]:
    """``step`` (one training step of a loop of one's own) timed on every call, with torch's
    thread count tuned from the times by a :class:`ThreadTuner` (the returned function's
    ``tuner``). On a shared machine this is what keeps a step from running many times slower.
    Thread counts change torch's rounding: leave a deterministic run untuned.

    Args:
        step: called as before, with the same arguments and result.
        max_threads: the most threads to use (default: torch's count now).
    """
    tuner = ThreadTuner(max_threads)

    @functools.wraps(step)
    def timed(*args: P.args, **kwargs: P.kwargs) -> R:
        start = time.perf_counter()
        result = step(*args, **kwargs)
        tuner.record(time.perf_counter() - start)
        return result

    timed.tuner = tuner  # type: ignore[attr-defined]
    return timed


class ThreadTuning(Callback):
    """Runs a :class:`ThreadTuner` around every training step on the CPU.

    A deterministic run (``--trainer.deterministic true``, as the fastMRI recipes are) keeps
    torch's thread count: CPU kernels split their sums by thread, so another count rounds
    differently, and such a run promises the same weights every time (and after a resume).

    Args:
        enabled: tune the thread count (``False``: torch's count throughout).
        max_threads: the most threads to use (default: torch's count at the start of training).
    """

    def __init__(self, enabled: bool = True, max_threads: int | None = None) -> None:
        self.enabled, self.max_threads = enabled, max_threads
        self.tuner: ThreadTuner | None = None
        self._start, self._threads_before, self._dynamic_before = 0.0, 0, False

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        deterministic = torch.are_deterministic_algorithms_enabled()
        if self.enabled and pl_module.device.type == "cpu" and not deterministic:
            self._threads_before = torch.get_num_threads()
            self._dynamic_before = inductor_config.cpp.dynamic_threads
            self.tuner = ThreadTuner(self.max_threads)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if self.tuner is not None:
            self.tuner.record(time.perf_counter() - self._start)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.tuner is not None:
            torch.set_num_threads(self._threads_before)
            inductor_config.cpp.dynamic_threads = self._dynamic_before
            self.tuner = None
