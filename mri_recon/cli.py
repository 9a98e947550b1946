"""The ``mri-recon`` command: parses arguments and dispatches to the commands' logic.

Commands:
    demo    the main job on the bundled default data (as far as the project goes: the demo dataset).
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _demo(args: argparse.Namespace) -> int:
    # The demo is the one command that may call data_prep (see DESIGN.md).
    from data_prep.demo import build_demo_dataset

    data_dir = args.output_dir / "data"
    print(f"mri-recon demo: building the demo dataset in {data_dir}", flush=True)
    summary = build_demo_dataset(data_dir, overwrite=args.overwrite)
    print(summary)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``mri-recon``."""
    parser = argparse.ArgumentParser(
        prog="mri-recon", description="Accelerated MRI reconstruction on fastMRI data."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="run the main job on the bundled default data (MNI152-based simulation)"
    )
    demo.add_argument(
        "--output-dir",
        type=Path,
        default=Path("demo_output"),
        help="folder for everything the demo writes (default: ./demo_output)",
    )
    demo.add_argument("--overwrite", action="store_true", help="rebuild outputs that already exist")
    demo.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mri-recon`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, OSError) as error:
        print(f"mri-recon {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
