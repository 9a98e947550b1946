"""``mri-recon demo``: the main job end to end on the bundled default data.

1. build the demo dataset (``data_prep``: multicoil brain k-space simulated from MNI152),
2. train the bundled ``demo`` recipe, or ``varnet_demo`` with ``--model varnet`` (fewer epochs
   where it trains in float32: ``FLOAT32_EPOCHS``; resuming from ``checkpoints/last.ckpt`` when
   a run was cut short; a finished run is reused),
3. reconstruct the test split with the best checkpoint into fastMRI submission files, and score
   the network, the zero-filled input and the compressed-sensing baseline (``--no-cs``: not;
   about 2 minutes on 2 CPU cores) against the held-out truth per acceleration: ``report.json``,
   ``report.html`` (the self-contained report with a slice viewer; ``--no-html``: not) and one
   comparison figure per test volume (and with ``--dicom`` a DICOM
   series per test volume beside its reconstruction, ``reconstructions/<name>_dicom/``). The
   VarNet demo also scores the
   U-Net demo's best checkpoint when that demo has run, so the table and figures show
   zero-filled, CS, U-Net and VarNet side by side.

Everything goes under ``--output-dir`` (the VarNet's training, reconstructions, report and figures
under ``--output-dir/varnet``; the dataset is shared). This command may call ``data_prep`` (see
DESIGN.md).
"""

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from mri_recon.html import Viewer
    from mri_recon.inference.comparison import Truth
    from mri_recon.inference.volumes import VolumeResult
    from mri_recon.report import Report

CHALLENGE = "multicoil"
# per --model: the recipe it trains and the folder under --output-dir its run writes to
RUNS = {"unet": ("demo", "."), "varnet": ("varnet_demo", "varnet")}
RECIPE_OF = {"U-Net": "demo", "VarNet": "varnet_demo"}  # the recipe each network's demo trains
# Epochs that replace a recipe's where it trains in float32 (no fast bf16 here), to stay in about
# the same minutes: the VarNet demo's 20 epochs take about 13 minutes of a 2-core AVX-512 BF16
# CPU in bf16, 8 about 11 of a 2-core AVX2 CPU in float32 (docs/benchmarks.md, "The VarNet demo
# recipe").
FLOAT32_EPOCHS = {"varnet_demo": 8}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``demo`` and its options."""
    parser = subparsers.add_parser(
        "demo", help="run the main job on the bundled default data (MNI152-based simulation)"
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path("demo_output"),
        help="folder for everything the demo writes (default: ./demo_output)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="rebuild the dataset and retrain from scratch (only files mri-recon wrote are ever "
        "replaced: anything else in the way stops the demo before any work)",
    )
    parser.add_argument(
        "--model",
        choices=sorted(RUNS),
        default="unet",
        help="the network to train: unet (configs/demo.yaml) or varnet (configs/varnet_demo.yaml; "
        f"{FLOAT32_EPOCHS['varnet_demo']} epochs where it trains in float32; into "
        "OUTPUT_DIR/varnet, compared with the U-Net when its demo has run; default: unet)",
    )
    parser.add_argument(
        "--dicom",
        action="store_true",
        help="also write each test volume's reconstruction as a DICOM series, "
        "reconstructions/<name>_dicom/",
    )
    parser.add_argument(
        "--cs",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="score the compressed-sensing baseline (SigPy, its default settings) beside "
        "zero-filled and the network(s): about 2 minutes for the test split on 2 CPU cores "
        "(default: on)",
    )
    parser.add_argument(
        "--html",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write report.html beside report.json: the self-contained HTML report with a "
        "slice viewer (default: on)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Runs the demo and prints its table; exit status 1 when a test volume failed."""
    result = run_demo(
        args.output_dir,
        overwrite=args.overwrite,
        model=args.model,
        dicom=args.dicom,
        cs=args.cs,
        html=args.html,
    )
    print(summary_text(result))
    return 1 if result.report.failures else 0


@dataclass
class DemoResult:
    """Where the demo wrote its outputs, and the comparison it printed."""

    checkpoint: Path
    reconstructions: Path
    report_path: Path
    figures: Path
    report: "Report"
    html_path: Path | None = None


def train(
    data: Path, output_dir: Path, recipe: str, overwrite: bool, overrides: Sequence[str] = ()
) -> Path:
    """Trains ``recipe`` into ``output_dir`` (or resumes / reuses a run); returns the best
    checkpoint.

    ``overrides`` are extra ``mri-recon fit`` arguments (tests shrink the run with them), after
    ``float32_overrides``.
    """
    from mri_recon.recipes import recipe_path
    from mri_recon.training.cli import cli_main

    checkpoints = output_dir / "checkpoints"
    if overwrite and checkpoints.is_dir():  # each one checked to be mri-recon's (check_outputs)
        for old in checkpoints.glob("*.ckpt"):
            old.unlink()
    last = checkpoints / "last.ckpt"
    resume = ["--ckpt_path", str(last)] if last.is_file() else []
    if resume:
        print(f"mri-recon demo: continuing from {last} (a finished run is reused)", flush=True)
    cli_main(
        ["fit", "--config", str(recipe_path(recipe)), "--data.data_path", str(data),
         "--trainer.default_root_dir", str(output_dir), "--checkpoint.dirpath", str(checkpoints),
         *float32_overrides(recipe), *overrides, *resume]
    )  # fmt: skip
    return best_checkpoint(last)


def float32_overrides(recipe: str) -> list[str]:
    """``mri-recon fit`` arguments for ``recipe`` where it trains in float32 (no fast bf16 here,
    ``mri_recon.precision.training_precision``): ``FLOAT32_EPOCHS`` and its cosine decay over
    them; none elsewhere."""
    from mri_recon.precision import training_precision

    epochs = FLOAT32_EPOCHS.get(recipe)
    if epochs is None or training_precision(None) != "32-true":
        return []
    return ["--trainer.max_epochs", str(epochs),
            "--model.lr_scheduler.init_args.T_max", str(epochs)]  # fmt: skip


def best_checkpoint(last: Path) -> Path:
    """The best-``val/ssim`` checkpoint that ``last`` records (``last`` itself if none)."""
    from mri_recon.models.checkpoint import read_checkpoint_file

    state = read_checkpoint_file(last)
    for callback in state.get("callbacks", {}).values():  # the checkpoint callback's state
        if callback.get("best_model_path"):
            best = last.parent / Path(callback["best_model_path"]).name
            if best.is_file():
                return best
    return last


def check_outputs(
    output_dir: Path, run_dir: Path, data_config: Any, overwrite: bool, dicom: bool = False
) -> None:
    """Checks, before any work, every file the demo may replace or delete: the run's report,
    reconstructions, DICOM series (with ``dicom``) and figures, and (to retrain) its
    checkpoints; the dataset's files are checked by ``data_prep``. Anything there that mri-recon
    did not write stops the demo.

    Raises:
        ForeignFileError: naming the first such file.
    """
    from data_prep.simulate import test_volumes
    from mri_recon.data.io import check_output_folder, check_owned
    from mri_recon.data.marks import CHECKPOINT
    from mri_recon.dicom import DICOM, series_folder
    from mri_recon.figures import FIGURE
    from mri_recon.inference.comparison import figure_path
    from mri_recon.inference.submission import RECONSTRUCTION
    from mri_recon.report import REPORT

    check_output_folder(output_dir, "output-dir")
    tests = test_volumes(data_config)
    figures = [figure_path(run_dir / "figures", name, acc) for name, acc in tests.items()]
    check_owned(figures, FIGURE, "output-dir")
    reconstructions = [run_dir / "reconstructions" / name for name in tests]
    check_owned(reconstructions, RECONSTRUCTION, "output-dir")
    if dicom:
        check_owned([series_folder(path) for path in reconstructions], DICOM, "output-dir")
    check_owned([run_dir / "report.json", run_dir / "report.html"], REPORT, "output-dir")
    if overwrite:
        check_owned((run_dir / "checkpoints").glob("*.ckpt"), CHECKPOINT, "output-dir")


def test_truth(data: Path) -> "Callable[[str], Truth]":
    """The truth of the demo dataset's test volumes, by file name: the held-out target and
    acquisition, and the acceleration the test file was undersampled with."""
    from data_prep.simulate import TRUTH_SPLIT
    from mri_recon.data.fastmri_format import split_dir
    from mri_recon.data.file_check import open_volume
    from mri_recon.inference.comparison import Truth, read_target

    test, truth_dir = split_dir(data, CHALLENGE, "test"), data / f"{CHALLENGE}_{TRUTH_SPLIT}"

    def truth(fname: str) -> Truth:
        target, acquisition = read_target(truth_dir / fname, CHALLENGE)
        with open_volume(test / fname) as hf:
            return Truth(target, acquisition, int(hf.attrs["acceleration"]))

    return truth


def score_test_split(
    data: Path,
    checkpoints: Sequence[Path],
    output_dir: Path,
    dicom: bool = False,
    cs: bool = True,
    viewer: "Viewer | None" = None,
) -> "Report":
    """Reconstructs the test split with the last of ``checkpoints`` into ``reconstructions/``
    (with ``dicom``, also as DICOM series) and scores each checkpoint's network, the
    zero-filled input and (with ``cs``) the compressed-sensing baseline against the held-out
    truth, with a figure per volume in ``figures/`` (and its slices in ``viewer``)."""
    from data_prep.simulate import TRUTH_SPLIT
    from mri_recon.data.fastmri_format import split_dir
    from mri_recon.dicom import SeriesLabel
    from mri_recon.inference.comparison import compare_methods, comparison_report
    from mri_recon.inference.preparation import prepare_run
    from mri_recon.inference.submission import SubmissionSummary, save_submission

    test, truth_dir = split_dir(data, CHALLENGE, "test"), data / f"{CHALLENGE}_{TRUTH_SPLIT}"
    runs = [prepare_run(test, checkpoint) for checkpoint in checkpoints]  # test files: own masks
    names = [run.checkpoint.net_name for run in runs]
    info = {f"checkpoint {name}": str(run.checkpoint.path) for name, run in zip(names, runs)}
    info |= {
        "recipe": ", ".join(f"{name}: {RECIPE_OF.get(name, '?')}" for name in names),
        "data path": str(test),
        "truth": str(truth_dir),
        "masks": "stored in the test files (4x and 8x alternately)",
    }
    compressed_sensing = runs[-1].compressed_sensing() if cs else None
    methods = [compressed_sensing.name] if compressed_sensing is not None else []
    report = comparison_report([*methods, *names], **info)
    submissions = SubmissionSummary(output_dir / "reconstructions")
    label = SeriesLabel(names[-1], runs[-1].checkpoint.path) if dicom else None

    def save(name: str, volume: "VolumeResult") -> None:
        if name == names[-1]:
            save_submission(volume, submissions, test / volume.fname, dicom=label)

    volumes = {name: run.volumes(run.dataset(), progress=False) for name, run in zip(names, runs)}
    if compressed_sensing is not None:
        cs_dataset = runs[-1].dataset(method=compressed_sensing)
        cs_volumes = runs[-1].volumes(cs_dataset, progress=False, method=compressed_sensing)
        volumes = {compressed_sensing.name: cs_volumes} | volumes
    compare_methods(volumes, test_truth(data), report, output_dir / "figures", save, viewer)
    print(submissions, flush=True)
    if compressed_sensing is not None:
        report.info[compressed_sensing.name] = compressed_sensing.describe()
    return report


def run_demo(
    output_dir: str | Path = "demo_output",
    overwrite: bool = False,
    data_config: Any = None,
    fit_overrides: Sequence[str] = (),
    model: str = "unet",
    dicom: bool = False,
    cs: bool = True,
    html: bool = True,
) -> DemoResult:
    """Runs the three steps; ``overwrite`` rebuilds the data and retrains from scratch.

    Args:
        output_dir: folder for everything the demo writes.
        overwrite: rebuild the dataset and retrain instead of reusing them.
        data_config: a ``data_prep`` ``SimulationConfig`` replacing the demo dataset's
            (tests use a smaller one); ``None`` is the demo's.
        fit_overrides: extra ``mri-recon fit`` arguments (tests shrink the training with them).
        model: ``unet`` or ``varnet``, the network to train (``RUNS``).
        dicom: also write each test volume's reconstruction as a DICOM series.
        cs: score the compressed-sensing baseline too.
        html: write ``report.html`` beside ``report.json``.
    """
    from data_prep.demo import DEMO_CONFIG, build_demo_dataset
    from mri_recon.report import write_report

    if model not in RUNS:
        raise ValueError(f"model: must be one of {sorted(RUNS)}, got {model!r}")
    recipe, folder = RUNS[model]
    output_dir, data_config = Path(output_dir), data_config or DEMO_CONFIG
    data, run_dir = output_dir / "data", output_dir / folder
    check_outputs(output_dir, run_dir, data_config, overwrite, dicom)
    print(f"mri-recon demo: [1/3] demo dataset in {data}", flush=True)
    print(build_demo_dataset(data, overwrite=overwrite, config=data_config), flush=True)
    print(f"mri-recon demo: [2/3] training the {recipe!r} recipe", flush=True)
    checkpoint = train(data, run_dir, recipe, overwrite, fit_overrides)
    checkpoints = [checkpoint]
    unet_last = output_dir / "checkpoints" / "last.ckpt"
    if model != "unet" and unet_last.is_file():
        checkpoints.insert(0, best_checkpoint(unet_last))
    print(
        "mri-recon demo: [3/3] reconstructing and scoring the test split with "
        + " and ".join(str(path) for path in checkpoints),
        flush=True,
    )
    viewer = None
    if html:
        from mri_recon.html import Viewer, write_html_report

        viewer = Viewer()
    report = score_test_split(data, checkpoints, run_dir, dicom, cs, viewer)
    report_path = write_report(report, run_dir / "report.json", overwrite=True)
    html_path = None
    if viewer is not None:
        title = "mri-recon demo: test split (held-out volumes)"
        html_path = write_html_report(report, run_dir / "report.html", viewer, True, title)
    reconstructions, figures = run_dir / "reconstructions", run_dir / "figures"
    return DemoResult(checkpoint, reconstructions, report_path, figures, report, html_path)


def summary_text(result: DemoResult) -> str:
    """The table and the paths, as printed at the end of the demo."""
    from mri_recon.report import format_report

    return "\n".join(
        [
            "",
            "Demo test split (held-out volumes), mean +- std over volumes:",
            format_report(result.report, volumes=False),
            "",
            f"checkpoint:       {result.checkpoint}",
            f"reconstructions:  {result.reconstructions}",
            f"report:           {result.report_path}",
            *([f"HTML report:      {result.html_path}"] if result.html_path else []),
            f"figures:          {result.figures}",
            *(f"{key}: {value}" for key, value in result.report.info.items() if key == "CS"),
        ]
    )
