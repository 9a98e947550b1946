"""The ``mri-recon`` command: the root parser, and the dispatch to the commands.

``fit``, ``validate`` and ``test`` go to Lightning's CLI (``mri_recon.training.cli``); every other
command is a module of ``mri_recon.commands`` that registers its own parser. Errors a user can
cause end as one line, ``mri-recon COMMAND: error: ...``, and exit status 2; a command that ran
but left volumes failed exits 1; Ctrl-C ends one with ``mri-recon COMMAND: interrupted`` and
status 130. Warnings print as one line, ``mri-recon COMMAND: warning: ...``,
and dependency warnings that only confuse users (``NOISE``) are not shown.
"""

import argparse
import sys
import warnings
from collections.abc import Sequence
from functools import partial
from importlib import import_module

from mri_recon.commands import COMMANDS

LIGHTNING_COMMANDS = {
    "fit": "train a model: mri-recon fit --config RECIPE|FILE [--section.key value ...]",
    "validate": "validate a checkpoint: mri-recon validate --config ... --ckpt_path CKPT",
    "test": "score the test loader: mri-recon test --config ... --ckpt_path CKPT",
}
USER_ERRORS = (ValueError, OSError, ModuleNotFoundError)
INTERRUPTED = 130  # the shell's status for a command ended by Ctrl-C (128 + SIGINT)
NOISE = (
    "Casting complex values to real discards",  # numpy's ComplexWarning
    "Detected pickle protocol",  # torch reading a file that is not a checkpoint of ours
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",  # Lightning on torch's pytree
    # Inductor, once per process, for the VarNet's FFTs, which stay torch's: "Performance may be
    # worse than eager". The compiled VarNet ran 1.33x (inference) and 1.38x (training step)
    # faster than eager on the VarNet demo's sizes (docs/benchmarks.md, "Compiled").
    "Torchinductor does not support code generation for complex operators",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``mri-recon``."""
    parser = argparse.ArgumentParser(
        prog="mri-recon", description="Accelerated MRI reconstruction on fastMRI data."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in LIGHTNING_COMMANDS.items():  # parsed by LightningCLI, see main()
        commands.add_parser(name, help=text, add_help=False)
    for name in COMMANDS:
        import_module(f"mri_recon.commands.{name}").register(commands)
    return parser


def one_line(error: BaseException) -> str:
    """The error's message on one line. An error re-raised from a DataLoader worker carries the
    worker's traceback in its message; its last line holds the original message."""
    lines = str(error).strip().splitlines() or [type(error).__name__]
    if len(lines) > 1 and "Original Traceback" in lines[1]:
        return lines[-1].split(": ", 1)[-1]
    return " ".join(line.strip() for line in lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mri-recon`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in LIGHTNING_COMMANDS:
        command, run = argv[0], _run_lightning
    else:
        args = build_parser().parse_args(argv)
        command, run = args.command, lambda _: args.run(args)
    with warnings.catch_warnings():
        for message in NOISE:
            warnings.filterwarnings("ignore", message=message)
        warnings.showwarning = partial(_show_warning, command)
        try:
            return run(argv)
        except USER_ERRORS as error:
            print(f"mri-recon {command}: error: {one_line(error)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:  # Ctrl-C: outputs are atomic, so nothing half-written stays
            # Objects the interrupt cut short (a progress bar half made, a file half read) may
            # complain as they are collected: the user asked to stop, and is told so once.
            sys.unraisablehook = lambda unraisable: None
            print(f"mri-recon {command}: interrupted", file=sys.stderr)
            return INTERRUPTED


def _show_warning(command: str, message: Warning | str, category: type[Warning], *_, **__) -> None:
    """A warning as one line. Resource warnings (for developers, ``python -X dev``) are not
    shown, whatever filters a library sets (a file an interrupt cut short reports one)."""
    if not issubclass(category, ResourceWarning):
        text = " ".join(str(message).split())  # some libraries' messages start with a newline
        print(f"mri-recon {command}: warning: {text}", file=sys.stderr)


def _run_lightning(argv: list[str]) -> int:
    from mri_recon.training.cli import cli_main

    cli_main(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
