"""``mri-recon benchmark``: the product's own paths against the fastMRI reference, side by side.

Training steps as ``ReconModule`` runs them for each bundled recipe, ``reconstruct``'s network
call, the data loader on fastMRI-sized multicoil files, scratch against aten layers, the
training step and network call under ``torch.compile`` (with its cold and cached compile time),
the VarNet's training step at fastMRI's size with its peak memory, and (with
``--contention``) the demo recipe's step with a competing torch job the command starts itself.
Each pair is timed alternately, call by call, in one process; the table gives medians per slice
and the median of the per-pair ratios, ``--json PATH`` everything (``mri_recon.benchmark.suite``).
Recorded figures and the targets: docs/benchmarks.md.
"""

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mri_recon.benchmark.timing import Comparison

BENCHMARK = "benchmark"  # the kind of output (mark) of --json
SECTIONS = ("train", "inference", "data", "layers", "compile", "varnet", "contention")
DEFAULT_SECTIONS = ("train", "inference", "data", "layers", "compile", "varnet")
HEADLINES = (
    "train_speedup_vs_fastmri",
    "inference_speedup_vs_fastmri",
    "data_speedup_vs_fastmri",
    "contention_slowdown",
    "train_gflops_achieved",
    "gemm_peak_gflops",
    "gemm_fraction",
    "train_speedup_compiled_vs_fastmri",
    "inference_speedup_compiled_vs_fastmri",
    "compile_seconds_cold",
    "compile_seconds_cached",
    "scratch_compiled_vs_aten_compiled",
    "varnet_train_peak_gib",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``benchmark`` and its options."""
    parser = subparsers.add_parser(
        "benchmark",
        help="time training, inference and data loading against the fastMRI reference",
        description="Time the product's training step (per bundled recipe), reconstruct's "
        "network call and the data loader against fastMRI's, alternating call by call; the "
        "same compiled (cold and cached compile seconds; scratch against torch's layers); the "
        "VarNet's step and peak memory.",
    )
    parser.add_argument("--quick", action="store_true", help="3 repeats, half-size networks")
    parser.add_argument("--repeats", type=int, help="timed calls per side (default 5, quick 3)")
    parser.add_argument(
        "--contention",
        action="store_true",
        help="also time the demo recipe's step with a competing torch job (started here)",
    )
    parser.add_argument(
        "--contention-steps", type=int, help="steps timed alone and busy (default 12, quick 6)"
    )
    parser.add_argument("--only", choices=SECTIONS, action="append", help="sections to run")
    parser.add_argument(
        "--data-path", type=Path, help="fastMRI data folder (multicoil_train/) for the data timing"
    )
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--shrink", type=int, help="divide every image and k-space size by N")
    parser.add_argument("--json", type=Path, help="write the figures and settings to PATH")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --json file written by mri-recon (never another file)",
    )
    parser.set_defaults(run=run)


def comparison_table(rows: list["Comparison"]) -> str:
    """The comparisons as an aligned table: per slice, A, B and B / A."""
    from mri_recon.report import format_table

    header = ("section", "case", "A", "A ms/slice", "B", "B ms/slice", "B / A")
    cells = [
        (
            row.section,
            row.case,
            row.labels[0],
            f"{row.ours_ms:.1f}",
            row.labels[1],
            f"{row.reference_ms:.1f}",
            f"{row.settings.get('slowdown', row.ratio):.2f}",
        )
        for row in rows
    ]
    return format_table(header, cells, left={0, 1, 2, 4})


def run(args: argparse.Namespace) -> int:
    """Runs the benchmark, prints the table and the headline figures, writes the JSON."""
    for name in ("repeats", "shrink", "contention_steps"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ValueError(f"{name.replace('_', '-')} must be >= 1")
    from mri_recon.data.io import check_output

    if args.json is not None:  # before minutes of timing, not after them
        check_output(args.json, "json", BENCHMARK, args.overwrite, inputs=[args.data_path])
    import torch

    from mri_recon.benchmark.suite import Settings, run_suite

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    sections = tuple(args.only or DEFAULT_SECTIONS)
    if args.contention and "contention" not in sections:
        sections += ("contention",)
    settings = Settings(
        repeats=args.repeats or (3 if args.quick else 5),
        shrink=args.shrink or (2 if args.quick else 1),
        data_shrink=args.shrink or 1,
        data_files=1 if args.quick else 2,
        data_slices=4 if args.quick else 8,
        contention_steps=args.contention_steps or (6 if args.quick else 12),
        sections=sections,
        data_path=args.data_path,
        quick=args.quick,
    )
    rows, summary = run_suite(settings, progress=lambda text: print(text, flush=True))
    print(comparison_table(rows))
    for key in HEADLINES:
        if key in summary:
            print(f"{key}: {summary[key]:.3f}")
    if args.json is not None:
        from mri_recon.report import write_json

        write_json(args.json, summary, BENCHMARK, overwrite=args.overwrite)
        print(f"wrote {args.json}")
    return 0
