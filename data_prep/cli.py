"""``python -m data_prep``: simulate a fastMRI-format dataset, build the demo dataset, or convert
ISMRMRD raw scans into fastMRI-format files.

    python -m data_prep simulate --source mni152 --output data/sim --challenge multicoil --coils 8
    python -m data_prep demo --output data/demo
    python -m data_prep convert raw/*.h5 --output data/converted [--prewhiten] [--repetition N]

Defaults come from ``SimulationConfig`` and ``ConversionOptions``; every bad argument and every
file that cannot be converted ends in one line on stderr and exit status 2, before anything is
written.
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from data_prep.config import SimulationConfig
from data_prep.convert import convert_raw_files
from data_prep.demo import build_demo_dataset
from data_prep.simulate import simulate_dataset
from mri_recon.data.ismrmrd_plan import ConversionOptions
from mri_recon.options import add_options, from_options


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (no usage block) with exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser for the three subcommands."""
    parser = OneLineParser(prog="python -m data_prep", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    simulate = commands.add_parser("simulate", help="simulate fastMRI-format HDF5 files")
    simulate.add_argument("--output", required=True, type=Path, help="root folder of the dataset")
    add_options(simulate, SimulationConfig)
    simulate.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the dataset files mri-recon wrote there before (any other file in the "
        "way stops the run, untouched)",
    )
    simulate.add_argument("--quiet", action="store_true", help="no progress bar")

    demo = commands.add_parser("demo", help="build (or reuse) the demo dataset")
    demo.add_argument("--output", required=True, type=Path, help="root folder of the demo dataset")
    demo.add_argument(
        "--overwrite",
        action="store_true",
        help="rebuild even if complete (only files mri-recon wrote are ever replaced)",
    )

    convert = commands.add_parser(
        "convert", help="convert ISMRMRD raw scans (.h5) into fastMRI-format files"
    )
    convert.add_argument("raw", nargs="+", type=Path, metavar="RAW", help="raw files or folders")
    convert.add_argument("--output", required=True, type=Path, help="folder of converted files")
    add_options(convert, ConversionOptions)
    convert.add_argument(
        "--overwrite",
        action="store_true",
        help="replace files converted by mri-recon before (any other file in the way stops the "
        "run, untouched)",
    )
    convert.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status (2 for bad arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "simulate":
            summary = simulate_dataset(
                from_options(SimulationConfig, args),
                args.output,
                overwrite=args.overwrite,
                progress=not args.quiet,
            )
        elif args.command == "convert":
            summary = convert_raw_files(
                args.raw,
                args.output,
                from_options(ConversionOptions, args),
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
