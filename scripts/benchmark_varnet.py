"""Time and peak memory of the VarNet per slice, training and inference, at fastMRI's sizes.

One slice of multicoil k-space (default: 15 coils, 640 x 368, fastMRI knee's size; a 4x
equispaced mask with 8% centre lines) goes through ``mri_recon.models.VarNet`` (default:
fastMRI's 12 cascades, 18 channels, 8 sensitivity channels) in three modes:

- ``train``: forward, the backward pass of the output's sum and an Adam step;
- ``train-checkpointed``: the same with ``checkpoint_cascades=True`` (gradient checkpointing);
- ``inference``: a forward pass under ``torch.inference_mode``.

``--reference`` runs ``fastmri.models.VarNet`` (fastMRI's own network, same sizes) instead, so
the two can be compared on the same machine; it has no gradient checkpointing.

Each mode runs in its own process, so its peak memory is its own: on the CPU the peak resident
set (``ru_maxrss``) and the peak above the resident set before the first pass (the activations,
gradients and optimizer state); on a GPU ``torch.cuda.max_memory_allocated``. The time is the
mean of ``--steps`` passes after one warm-up pass.

    python scripts/benchmark_varnet.py [--device cpu|cuda] [--coils 15] [--height 640]
        [--width 368] [--cascades 12] [--steps 2] [--impl aten] [--reference]

It prints a Markdown table, the form of docs/benchmarks.md.
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys

import torch

from mri_recon.benchmark import timing
from mri_recon.models import VarNet
from mri_recon.optim import Adam
from mri_recon.report import format_table

MODES = ("train", "train-checkpointed", "inference")
MIB = 1024 * 1024


def rss_bytes() -> int:
    """This process's resident set now (Linux: /proc/self/statm)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def sample(args: argparse.Namespace, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Random masked k-space (1, coils, height, width, 2) and a 4x equispaced mask."""
    mask = torch.zeros(1, 1, 1, args.width, 1, dtype=torch.bool)
    mask[..., ::4, :] = True
    centre = round(0.08 * args.width)
    start = (args.width - centre) // 2
    mask[..., start : start + centre, :] = True
    kspace = torch.randn(1, args.coils, args.height, args.width, 2) * mask
    return kspace.to(device), mask.to(device)


def measure(args: argparse.Namespace) -> dict[str, float]:
    """One mode's seconds per slice and peak memory (MiB), in this process."""
    device = torch.device(args.device)
    if args.reference:
        from fastmri.models import VarNet as FastmriVarNet

        net = FastmriVarNet(num_cascades=args.cascades).to(device)
    else:
        net = VarNet(
            num_cascades=args.cascades,
            conv_impl=args.impl,
            norm_impl=args.impl,
            checkpoint_cascades=args.mode == "train-checkpointed",
        ).to(device)
    optimizer = Adam(net.parameters(), lr=3e-4)
    kspace, mask = sample(args, device)
    training = args.mode != "inference"
    net.train(training)

    def step() -> None:
        if training:
            optimizer.zero_grad(set_to_none=True)
            net(kspace, mask).sum().backward()
            optimizer.step()
        else:
            with torch.inference_mode():
                net(kspace, mask)
        if device.type == "cuda":
            torch.cuda.synchronize()

    before = rss_bytes()
    step()  # warm-up (and the optimizer's state)
    seconds = statistics.median(timing.seconds(step) for _ in range(args.steps))
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / MIB
        return {"seconds": seconds, "peak_mib": peak, "above_mib": peak}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return {"seconds": seconds, "peak_mib": peak / MIB, "above_mib": (peak - before) / MIB}


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
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # one mode, in a child
    args = parser.parse_args()
    if args.mode is not None:
        print(json.dumps(measure(args)))
        return
    if args.reference and "train-checkpointed" in args.modes:
        parser.error("--reference: fastmri.models.VarNet has no gradient checkpointing")
    rows = {}
    for mode in args.modes:
        child = [*sys.argv[1:], "--mode", mode]
        result = subprocess.run(
            [sys.executable, __file__, *child], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            sys.exit(f"benchmark_varnet: {mode} failed:\n{result.stderr.strip()}")
        rows[mode] = json.loads(result.stdout.strip().splitlines()[-1])
        print(f"{mode}: {rows[mode]}", file=sys.stderr, flush=True)
    print(table(args, rows))


if __name__ == "__main__":
    main()
