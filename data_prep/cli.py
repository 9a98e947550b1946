"""``python -m data_prep``: simulate a fastMRI-format dataset, or build the demo dataset.

    python -m data_prep simulate --source mni152 --output data/sim --challenge multicoil --coils 8
    python -m data_prep demo --output data/demo

Defaults come from ``SimulationConfig``; every bad argument ends in one line on stderr and exit
status 2, before anything is written.
"""

import argparse
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import NoReturn

from data_prep.config import SimulationConfig
from data_prep.demo import build_demo_dataset
from data_prep.simulate import simulate_dataset
from mri_recon.data.fastmri_format import CHALLENGES
from mri_recon.data.masks import MASK_TYPES

DEFAULTS = {field.name: field.default for field in fields(SimulationConfig)}


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (no usage block) with exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser for both subcommands."""
    parser = OneLineParser(prog="python -m data_prep", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    simulate = commands.add_parser("simulate", help="simulate fastMRI-format HDF5 files")
    add = simulate.add_argument
    add("--source", required=True, help="phantom, mni152, a .npy file, a NIfTI file or folder")
    add("--output", required=True, type=Path, help="root folder of the dataset")
    add("--challenge", required=True, choices=CHALLENGES)
    add("--coils", type=int, help="receiver coils (default: 1 singlecoil, 8 multicoil)")
    add(
        "--recon-size",
        type=int,
        default=DEFAULTS["recon_size"],
        help="target side R (default: %(default)s)",
    )
    add("--kspace-width", type=int, help="phase-encode lines W >= R (default: R)")
    add(
        "--num-volumes",
        type=int,
        default=DEFAULTS["num_volumes"],
        help="over all splits (default: %(default)s)",
    )
    add(
        "--slices-per-volume",
        type=int,
        default=DEFAULTS["slices_per_volume"],
        help="slices per volume (default: %(default)s)",
    )
    add(
        "--val-fraction",
        type=float,
        default=DEFAULTS["val_fraction"],
        help="share of volumes in val (default: %(default).3g)",
    )
    add(
        "--test-fraction",
        type=float,
        default=DEFAULTS["test_fraction"],
        help="share of volumes in test (default: %(default).3g)",
    )
    add(
        "--test-accelerations",
        type=int,
        nargs="+",
        metavar="A",
        default=DEFAULTS["test_accelerations"],
        help="test files cycle over these (default: 4 8)",
    )
    add(
        "--test-center-fractions",
        type=float,
        nargs="+",
        metavar="F",
        default=DEFAULTS["test_center_fractions"],
        help="one per test acceleration (default: 0.08 0.04)",
    )
    add(
        "--test-mask-type",
        choices=sorted(MASK_TYPES),
        default=DEFAULTS["test_mask_type"],
        help="(default: %(default)s)",
    )
    add(
        "--noise-level",
        type=float,
        default=DEFAULTS["noise_level"],
        help="k-space noise std relative to the object's peak magnitude (default: %(default)s)",
    )
    add(
        "--pad-lines",
        type=int,
        default=DEFAULTS["pad_lines"],
        help="unacquired lines per edge (default: 0)",
    )
    add("--acquisition", help="acquisition attribute (default: by source, e.g. AXT1 for mni152)")
    add(
        "--seed",
        type=int,
        default=DEFAULTS["seed"],
        help="same seed, same files (default: %(default)s)",
    )
    add("--overwrite", action="store_true", help="replace existing output")
    add("--quiet", action="store_true", help="no progress bar")

    demo = commands.add_parser("demo", help="build (or reuse) the demo dataset")
    demo.add_argument("--output", required=True, type=Path, help="root folder of the demo dataset")
    demo.add_argument("--overwrite", action="store_true", help="rebuild even if complete")
    return parser


def config_from_args(args: argparse.Namespace) -> SimulationConfig:
    """The ``SimulationConfig`` named by parsed ``simulate`` arguments."""
    return SimulationConfig(
        source=args.source,
        challenge=args.challenge,
        coils=args.coils,
        recon_size=args.recon_size,
        kspace_width=args.kspace_width,
        num_volumes=args.num_volumes,
        slices_per_volume=args.slices_per_volume,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        test_accelerations=tuple(args.test_accelerations),
        test_center_fractions=tuple(args.test_center_fractions),
        test_mask_type=args.test_mask_type,
        noise_level=args.noise_level,
        pad_lines=args.pad_lines,
        acquisition=args.acquisition,
        seed=args.seed,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status (2 for bad arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "simulate":
            summary = simulate_dataset(
                config_from_args(args),
                args.output,
                overwrite=args.overwrite,
                progress=not args.quiet,
            )
        else:
            summary = build_demo_dataset(args.output, overwrite=args.overwrite)
    except (ValueError, FileExistsError) as error:
        print(f"{parser.prog} {args.command}: error: {error}", file=sys.stderr)
        return 2
    print(summary)
    return 0
