"""Time and peak memory of the VarNet per slice, training and inference, at fastMRI's sizes.

One slice of multicoil k-space (default: 15 coils, 640 x 368, fastMRI knee's size; a 4x
equispaced mask with 8% centre lines) goes through ``mri_recon.models.VarNet`` (default:
fastMRI's 12 cascades, 18 channels, 8 sensitivity channels) in the modes of
``mri_recon.benchmark.varnet``: ``train``, ``train-checkpointed`` (the cascades),
``train-all-checkpointed`` (the cascades and the sensitivity network) and ``inference``.

``--reference`` runs ``fastmri.models.VarNet`` (fastMRI's own network, same sizes) instead, so
the two can be compared on the same machine; it has no gradient checkpointing.

Each mode runs in its own process, so its peak memory is its own. The time is the median of
``--steps`` passes after one warm-up pass.

    python scripts/benchmark_varnet.py [--device cpu|cuda] [--coils 15] [--height 640]
        [--width 368] [--cascades 12] [--steps 2] [--impl aten] [--reference]

It prints a Markdown table, the form of docs/benchmarks.md.
"""

import argparse
import sys

import torch

from mri_recon.benchmark.isolated import run_isolated
from mri_recon.benchmark.varnet import MODES
from mri_recon.report import format_table


def table(args: argparse.Namespace, rows: dict[str, dict[str, float]]) -> str:
    """The results as a Markdown table under a line saying what was measured."""
    gpu = args.device == "cuda"
    memory = ["peak GPU memory"] if gpu else ["peak RSS", "peak above start"]
    name = "fastmri.models.VarNet" if args.reference else f"VarNet ({args.impl} layers)"
    title = (
        f"{name}, {args.cascades} cascades, {args.coils} coils, {args.height} x {args.width}, "
        f"batch 1, {args.device}, {torch.get_num_threads()} threads, median of {args.steps}"
    )
    cells = [
        [mode, f"{row['seconds']:.2f}", f"{row['peak_mib'] / 1024:.2f} GiB"]
        + ([] if gpu else [f"{row['above_mib'] / 1024:.2f} GiB"])
        for mode, row in rows.items()
    ]
    return title + "\n\n" + format_table(["mode", "s / slice", *memory], cells, markdown=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--coils", type=int, default=15)
    parser.add_argument("--height", type=int, default=640)
    parser.add_argument("--width", type=int, default=368)
    parser.add_argument("--cascades", type=int, default=12)
    parser.add_argument("--steps", type=int, default=2, help="timed passes after one warm-up")
    parser.add_argument("--impl", choices=("scratch", "aten"), default="aten")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--reference", action="store_true", help="fastmri.models.VarNet instead")
    args = parser.parse_args()
    if args.reference and any("checkpointed" in mode for mode in args.modes):
        parser.error("--reference: fastmri.models.VarNet has no gradient checkpointing")
    settings = {k: getattr(args, k) for k in ("coils", "height", "width", "cascades", "steps")}
    settings.update(impl=args.impl, device=args.device, reference=args.reference)
    rows = {}
    for mode in args.modes:
        try:
            rows[mode] = run_isolated("mri_recon.benchmark.varnet.measure", mode=mode, **settings)
        except RuntimeError as error:
            sys.exit(f"benchmark_varnet: {mode}: {error}")
        print(f"{mode}: {rows[mode]}", file=sys.stderr, flush=True)
    print(table(args, rows))


if __name__ == "__main__":
    main()
