"""Resuming from any checkpoint, even one written in the middle of an epoch, gives the weights
of an uninterrupted run; periodic checkpoints, and best checkpoints named by their own score."""

import re
from pathlib import Path

import pytest
import torch

from tests.helpers import assert_identical, fit_args, run_cli

# Deterministic float32 on the CPU: 2 epochs of 9 batches of 2 slices.
RUN = ("--model.net.init_args.chans", "4", "--trainer.precision", "32",
       "--trainer.deterministic", "true", "--data.batch_size", "2", "--trainer.max_epochs", "2",
       "--trainer.enable_model_summary", "false")  # fmt: skip


def last(root: Path) -> dict:
    return torch.load(root / "checkpoints" / "last.ckpt", weights_only=True)


@pytest.fixture(scope="module")
def straight(small_multicoil: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The final training state of the uninterrupted run."""
    root = tmp_path_factory.mktemp("straight")
    run_cli(*fit_args("demo", small_multicoil, root, *RUN))
    return last(root)


def assert_same_run(resumed: dict, straight: dict) -> None:
    assert resumed["global_step"] == straight["global_step"] == 18
    assert_identical(resumed["state_dict"], straight["state_dict"])
    assert_identical(resumed["optimizer_states"], straight["optimizer_states"])


@pytest.mark.slow
def test_a_run_stopped_at_max_steps_writes_last_and_resumes_exactly(
    straight: dict, small_multicoil: Path, tmp_path: Path
) -> None:
    run_cli(*fit_args("demo", small_multicoil, tmp_path, *RUN, "--trainer.max_steps", "4"))
    assert last(tmp_path)["global_step"] == 4  # last.ckpt holds the final step, mid-epoch
    run_cli(*fit_args("demo", small_multicoil, tmp_path, *RUN, "--ckpt_path", "last"))
    assert_same_run(last(tmp_path), straight)


@pytest.mark.slow
def test_a_crash_after_a_periodic_checkpoint_resumes_exactly_with_workers(
    straight: dict, small_multicoil: Path, tmp_path: Path
) -> None:
    periodic = (*RUN, "--data.num_workers", "2", "--checkpoint.every_n_train_steps", "4")
    crash = ("--trainer.callbacks+=tests.training.crash.CrashAt",
             "--trainer.callbacks.step=13")  # fmt: skip
    with pytest.raises(RuntimeError, match="crashed after step 13"):
        run_cli(*fit_args("demo", small_multicoil, tmp_path, *periodic, *crash))
    assert last(tmp_path)["global_step"] == 12  # the periodic write, 3 batches into epoch 2
    (best,) = [p for p in (tmp_path / "checkpoints").glob("*.ckpt") if p.name != "last.ckpt"]
    assert torch.load(best, weights_only=True)["global_step"] == 9  # after epoch 1's validation
    # The best checkpoint's name is the score of its own weights.
    validated = run_cli("validate", *fit_args("demo", small_multicoil, tmp_path / "v")[1:],
                        "--ckpt_path", str(best), "--trainer.precision", "32")  # fmt: skip
    named = float(re.search(r"ssim(\d\.\d{4})", best.name).group(1))
    # The name rounds the score to 4 decimals; validation in the run's own float32 repeats it.
    assert float(validated.trainer.callback_metrics["val/ssim"]) == pytest.approx(named, abs=5e-5)
    run_cli(*fit_args("demo", small_multicoil, tmp_path, *periodic, "--ckpt_path", "last"))
    assert_same_run(last(tmp_path), straight)


def test_max_steps_at_an_epochs_end_still_keeps_the_best_checkpoint(
    small_multicoil: Path, tmp_path: Path
) -> None:
    """The last step's last.ckpt must not stop the validation right after it from choosing the
    best checkpoint (both come at the same global step)."""
    one_epoch = (*RUN[:8], "--trainer.max_steps", "9")  # 9 batches of 2: one whole epoch
    run_cli(*fit_args("demo", small_multicoil, tmp_path, *one_epoch))
    (best,) = [p for p in (tmp_path / "checkpoints").glob("*.ckpt") if p.name != "last.ckpt"]
    assert best.name.startswith("epoch000-ssim")
    assert torch.load(best, weights_only=True)["global_step"] == last(tmp_path)["global_step"] == 9
