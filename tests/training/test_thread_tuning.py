"""ThreadTuner keeps the thread count that runs steps fastest, and follows changes of load."""

import time

import pytest
import torch
import torch._inductor.config as inductor_config

from mri_recon.models.compiled import Compiled
from mri_recon.training.thread_tuning import ThreadTuner, ThreadTuning, tune_threads


@pytest.fixture(autouse=True)
def keep_threads():
    """Each test's thread count and inductor's thread setting (a tuner changes both)."""
    before, dynamic = torch.get_num_threads(), inductor_config.cpp.dynamic_threads
    yield
    torch.set_num_threads(before)
    inductor_config.cpp.dynamic_threads = dynamic


def run(tuner: ThreadTuner, step_time: dict[int, float], steps: int) -> list[int]:
    """Feeds ``steps`` steps whose duration depends on the thread count; the counts used."""
    used = []
    for _ in range(steps):
        used.append(tuner.threads)
        tuner.record(step_time[tuner.threads])
        assert torch.get_num_threads() == tuner.threads
    return used


def test_quiet_machine_keeps_every_thread_and_probes_ever_less() -> None:
    torch.set_num_threads(2)
    tuner = ThreadTuner(max_threads=2, window=3, period=8, max_period=64)
    used = run(tuner, {2: 1.0, 1: 1.8}, 400)
    assert used[-60:].count(2) >= 60 - 3  # at most one probe window in the last 60 steps
    # Each losing probe doubles the period (8, 16, 32, then 64): 8 probes in 400 steps, the
    # last one cut short.
    assert used.count(1) <= 3 * 8
    assert tuner.period == 64


def test_busy_machine_drops_to_one_thread_and_returns_when_it_is_quiet() -> None:
    torch.set_num_threads(2)
    tuner = ThreadTuner(max_threads=2, window=3, period=8, max_period=64)
    run(tuner, {2: 1.0, 1: 1.8}, 20)
    busy = run(tuner, {2: 20.0, 1: 2.5}, 20)  # a second job arrives: two threads stall
    assert busy[:2] == [2, 2] and busy[2:5] == [1, 1, 1]  # the jump: fewer threads at once
    assert busy[5:].count(2) <= 1 and tuner.threads == 1  # a routine probe ends after one step
    quiet = run(tuner, {2: 1.0, 1: 1.8}, 40)  # it leaves: a routine probe finds two faster
    back = quiet.index(2)
    assert back <= 2 * 16 and quiet[back : back + 8] == [2] * 8


def test_a_far_slower_probe_ends_after_one_step() -> None:
    torch.set_num_threads(2)
    tuner = ThreadTuner(max_threads=2, window=3, period=8)
    used = run(tuner, {2: 1.0, 1: 5.0}, 12)
    assert used[3:5] == [1, 2]  # the first probe: one step at one thread, not three


def test_a_step_function_of_ones_own_is_tuned_in_one_line() -> None:
    """A step that runs slower on two threads (as on a busy machine) settles on one."""
    torch.set_num_threads(2)

    def step(x: float, scale: float = 1.0) -> float:
        time.sleep(0.01 if torch.get_num_threads() == 2 else 0.002)
        return x * scale

    step = tune_threads(step, max_threads=2)
    assert [step(i, scale=2.0) for i in range(40)] == [2.0 * i for i in range(40)]
    assert step.tuner.threads == 1 and torch.get_num_threads() == 1
    assert step.__name__ == "step"


def test_more_cores_probe_half_and_double() -> None:
    torch.set_num_threads(4)
    tuner = ThreadTuner(max_threads=4, window=2, period=4)
    used = run(tuner, {4: 3.0, 2: 1.0, 1: 2.0}, 60)
    assert used[-1] == 2 and set(used) == {1, 2, 4}


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="window"):
        ThreadTuner(window=0)


def test_callback_restores_the_thread_count(small_multicoil, tmp_path) -> None:
    from tests.helpers import fit_args, run_cli

    before = torch.get_num_threads()
    args = ("--trainer.max_steps", "4", "--trainer.limit_val_batches", "0")
    cli = run_cli(
        *fit_args("demo", small_multicoil, tmp_path, "--model.net.init_args.chans", "4", *args)
    )
    tuning = [c for c in cli.trainer.callbacks if isinstance(c, ThreadTuning)]
    assert len(tuning) == 1 and tuning[0].enabled and tuning[0].tuner is None
    assert torch.get_num_threads() == before


def test_a_deterministic_run_keeps_the_thread_count() -> None:
    from mri_recon.training.module import ReconModule

    module = ReconModule()  # on the CPU
    before = torch.are_deterministic_algorithms_enabled()
    try:
        for deterministic in (False, True):
            torch.use_deterministic_algorithms(deterministic)
            callback = ThreadTuning()
            callback.on_train_start(None, module)
            assert (callback.tuner is None) == deterministic
    finally:
        torch.use_deterministic_algorithms(before)


def cache_counts() -> tuple[int, int]:
    """Inductor's FX graph cache (hits, misses) in this process so far."""
    inductor = torch._dynamo.utils.counters["inductor"]
    return inductor["fxgraph_cache_hit"], inductor["fxgraph_cache_miss"]


@pytest.mark.slow
def test_a_compiled_network_meets_a_new_thread_count_in_inductors_cache(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dynamo compiles again for every thread count; with a tuner about, inductor's kernels
    serve any count, so that compilation finds them in the cache instead of building new ones."""
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    torch._dynamo.reset()
    ThreadTuner(max_threads=2)
    call, images = Compiled(torch.nn.Linear(3, 3)), torch.ones(2, 3)
    for threads in (2, 1):
        torch.set_num_threads(threads)
        before = cache_counts()
        with torch.no_grad():
            call(images)
        assert call.failure is None
    assert cache_counts() == (before[0] + 1, before[1])  # one hit, no miss
    torch._dynamo.reset()


def test_the_callback_gives_inductor_its_thread_setting_back() -> None:
    from mri_recon.training.module import ReconModule

    inductor_config.cpp.dynamic_threads = False
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(False)  # a deterministic run is not tuned
    try:
        callback = ThreadTuning()
        callback.on_train_start(None, ReconModule())
        assert callback.tuner is not None and inductor_config.cpp.dynamic_threads
        callback.on_train_end(None, None)
        assert not inductor_config.cpp.dynamic_threads
    finally:
        torch.use_deterministic_algorithms(deterministic)
