"""``mri-recon demo``: the main job end to end on the bundled default data.

1. build the demo dataset (``data_prep``: multicoil brain k-space simulated from MNI152),
2. train ``configs/demo.yaml`` (resuming from ``checkpoints/last.ckpt`` when a run was cut short;
   a finished run is reused),
3. reconstruct the test split with the best checkpoint (fastMRI submission files),
4. score the U-Net and the zero-filled input against the held-out truth, per acceleration, and
   write ``report.json`` and one comparison figure per test volume.

Everything goes under ``--output-dir``; the command is the one module of ``mri_recon`` that may
call ``data_prep`` (see DESIGN.md).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import torch

from mri_recon.comparison import (
    ComparisonReport,
    compare_volume,
    format_comparison,
    write_comparison,
)
from mri_recon.data.fastmri_format import RECONSTRUCTION_KEY, split_dir
from mri_recon.evaluate_checkpoint import read_target, save_volume_figure
from mri_recon.inference import reconstruct_volumes, volume_dataset
from mri_recon.reconstruct import reconstruct

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
CHALLENGE = "multicoil"


@dataclass
class DemoResult:
    """Where the demo wrote its outputs, and the comparison it printed."""

    checkpoint: Path
    reconstructions: Path
    report_path: Path
    figures: Path
    report: ComparisonReport


def train(data: Path, output_dir: Path, overwrite: bool, overrides: Sequence[str] = ()) -> Path:
    """Trains ``configs/demo.yaml`` (or resumes / reuses a run); returns the best checkpoint.

    ``overrides`` are extra ``mri-recon fit`` arguments (tests shrink the run with them).
    """
    from mri_recon.training.cli import cli_main

    if not CONFIG.is_file():
        raise FileNotFoundError(f"demo config {CONFIG} not found (run from a source checkout)")
    checkpoints = output_dir / "checkpoints"
    if overwrite and checkpoints.is_dir():
        for old in checkpoints.glob("*.ckpt"):
            old.unlink()
    last = checkpoints / "last.ckpt"
    resume = ["--ckpt_path", str(last)] if last.is_file() else []
    if resume:
        print(f"mri-recon demo: continuing from {last} (a finished run is reused)", flush=True)
    cli_main(
        ["fit", "--config", str(CONFIG), "--data.data_path", str(data),
         "--trainer.default_root_dir", str(output_dir), "--checkpoint.dirpath", str(checkpoints),
         *overrides, *resume]
    )  # fmt: skip
    return best_checkpoint(last)


def best_checkpoint(last: Path) -> Path:
    """The best-``val/ssim`` checkpoint that ``last`` records (``last`` itself if none)."""
    state = torch.load(last, map_location="cpu", weights_only=True)
    for key, callback in state.get("callbacks", {}).items():
        if key.startswith("ModelCheckpoint") and callback.get("best_model_path"):
            best = last.parent / Path(callback["best_model_path"]).name
            if best.is_file():
                return best
    return last


def compare_test_split(
    data: Path, reconstructions: Path, figures: Path, checkpoint: Path
) -> ComparisonReport:
    """U-Net (files in ``reconstructions``) and zero-filled vs the truth, per test volume."""
    from data_prep.simulate import TRUTH_SPLIT

    test, truth = split_dir(data, CHALLENGE, "test"), data / f"{CHALLENGE}_{TRUTH_SPLIT}"
    report = ComparisonReport(checkpoint=str(checkpoint))
    dataset = volume_dataset(test, CHALLENGE, mask=None)  # test files hold their own masks
    for volume in reconstruct_volumes(None, dataset, torch.device("cpu"), progress=False):
        target, acquisition = read_target(truth / volume.fname, CHALLENGE)
        with h5py.File(test / volume.fname, "r") as hf:
            acceleration = int(hf.attrs["acceleration"])
        with h5py.File(reconstructions / volume.fname, "r") as hf:
            reconstruction = hf[RECONSTRUCTION_KEY][()]
        row = compare_volume(
            volume.fname, acquisition, acceleration, target, volume.zero_filled, reconstruction
        )
        report.rows.append(row)
        figure = figures / f"{Path(volume.fname).stem}.png"
        save_volume_figure(figure, row, target, volume.zero_filled, reconstruction)
    return report


def run_demo(
    output_dir: str | Path = "demo_output",
    overwrite: bool = False,
    data_config: Any = None,
    fit_overrides: Sequence[str] = (),
) -> DemoResult:
    """Runs the four steps; ``overwrite`` rebuilds the data and retrains from scratch.

    Args:
        output_dir: folder for everything the demo writes.
        overwrite: rebuild the dataset and retrain instead of reusing them.
        data_config: a ``data_prep`` ``SimulationConfig`` replacing the demo dataset's
            (tests use a smaller one); ``None`` is the demo's.
        fit_overrides: extra ``mri-recon fit`` arguments (tests shrink the training with them).
    """
    from data_prep.demo import DEMO_CONFIG, build_demo_dataset

    output_dir = Path(output_dir)
    data = output_dir / "data"
    print(f"mri-recon demo: [1/4] demo dataset in {data}", flush=True)
    config = data_config or DEMO_CONFIG
    print(build_demo_dataset(data, overwrite=overwrite, config=config), flush=True)
    print(f"mri-recon demo: [2/4] training {CONFIG.name}", flush=True)
    checkpoint = train(data, output_dir, overwrite, fit_overrides)
    reconstructions = output_dir / "reconstructions"
    print(f"mri-recon demo: [3/4] reconstructing the test split with {checkpoint}", flush=True)
    print(
        reconstruct(
            split_dir(data, CHALLENGE, "test"), reconstructions, checkpoint=checkpoint,
            overwrite=True,
        )
    )  # fmt: skip
    print("mri-recon demo: [4/4] scoring U-Net and zero-filled against the truth", flush=True)
    figures = output_dir / "figures"
    report = compare_test_split(data, reconstructions, figures, checkpoint)
    report_path = write_comparison(report, output_dir / "report.json", overwrite=True)
    return DemoResult(checkpoint, reconstructions, report_path, figures, report)


def summary_text(result: DemoResult) -> str:
    """The table and the paths, as printed at the end of the demo."""
    return "\n".join(
        [
            "",
            "Demo test split (held-out volumes), mean +- std over volumes:",
            format_comparison(result.report),
            "",
            f"checkpoint:       {result.checkpoint}",
            f"reconstructions:  {result.reconstructions}",
            f"report:           {result.report_path}",
            f"figures:          {result.figures}",
        ]
    )
