"""Time the from-scratch optimizers, normalization layers and convolutions against torch's.

Each case runs ours and torch's alternately in one process (so both see the same machine load,
``mri_recon.benchmark.timing.alternate``) and reports the medians over repeats and the speed-up,
torch's time / ours (above 1: ours is faster), the convention of ``mri-recon benchmark``.
Sections: optim (one `step()` on the fastMRI U-Net's 7.8M parameters), norm and conv
(forward + backward at the U-Net's shapes for a 320x320 input). With --bf16, norm inputs are
bfloat16 (as a bf16 convolution hands them on) and both norm and conv run under CPU autocast.

    python scripts/benchmark_layers.py [--quick] [--batch 1] [--threads 1] [--only norm] [--bf16]
"""

import argparse
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from mri_recon.benchmark.timing import Comparison, alternate
from mri_recon.report import format_table

# (channels, height) of the U-Net's feature maps for a 320x320 input, chans=32, 4 pool layers.
UNET_SHAPES = [(32, 320), (64, 160), (128, 80), (256, 40), (512, 20)]


def time_pair(
    section: str, case: str, ours: Callable[[], object], ref: Callable[[], object], repeats: int
) -> Comparison:
    """``ours`` against torch's ``ref``, alternately, after one warm-up call each."""
    ours_s, ref_s = alternate(ours, ref, repeats)
    return Comparison(section, case, ours_s, ref_s, labels=("ours", "torch"))


def forward_backward(
    fn: Callable[..., torch.Tensor], *inputs: torch.Tensor, bf16: bool = False
) -> Callable:
    """A closure running fn(*inputs) forward (under bf16 autocast if `bf16`) and backward."""

    def forward() -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return fn(*inputs)

    grad = forward().detach().normal_()

    def run() -> None:
        forward().backward(grad)

    return run


def bench_optim(args: argparse.Namespace) -> list[Comparison]:
    from fastmri.models import Unet

    from mri_recon import optim

    torch.manual_seed(0)
    params = [p.detach() for p in Unet(1, 1, 32, 4).parameters()]
    numel = sum(p.numel() for p in params)
    rows = []
    for name, kwargs in [
        ("SGD", {"lr": 0.01, "momentum": 0.9}),
        ("RMSprop", {"lr": 1e-3}),
        ("Adam", {"lr": 1e-3}),
        ("AdamW", {"lr": 1e-3, "weight_decay": 1e-2}),
    ]:
        steps = []
        for cls in (getattr(optim, name), getattr(torch.optim, name)):
            copies = [nn.Parameter(p.clone()) for p in params]
            for p in copies:
                p.grad = torch.randn_like(p)
            steps.append(cls(copies, foreach=True, **kwargs).step)
        case = f"{name} step, {numel / 1e6:.1f}M params"
        rows.append(time_pair("optim", case, steps[0], steps[1], args.repeats))
    return rows


def bench_norm(args: argparse.Namespace) -> list[Comparison]:
    from mri_recon.nn import norm

    rows = []
    for channels, size in UNET_SHAPES:
        size //= args.shrink
        shape = (args.batch, channels, size, size)
        layers = {
            "InstanceNorm2d": ((channels,), {}),
            "BatchNorm2d": ((channels,), {}),
            "GroupNorm": ((8, channels), {}),
            "LayerNorm": (((channels, size, size),), {}),
            "BatchNorm1d": ((channels,), {}),
        }
        for name, (layer_args, kwargs) in layers.items():
            x = torch.randn(shape, dtype=torch.bfloat16 if args.bf16 else torch.float32)
            if name == "BatchNorm1d":
                x = x.flatten(2)
            x.requires_grad_()
            ours = forward_backward(getattr(norm, name)(*layer_args, **kwargs), x, bf16=args.bf16)
            ref = forward_backward(getattr(nn, name)(*layer_args, **kwargs), x, bf16=args.bf16)
            rows.append(time_pair("norm", f"{name} {tuple(x.shape)}", ours, ref, args.repeats))
    return rows


def bench_conv(args: argparse.Namespace) -> list[Comparison]:
    from mri_recon.nn import functional as ours_f

    b, s = args.batch, args.shrink
    cases = [
        ("conv2d 3x3", "conv2d", (b, 1, 320 // s, 320 // s), (32, 1, 3, 3), {"padding": 1}),
    ]
    for channels, size in [(32, 320)] + UNET_SHAPES[1:]:
        x_shape = (b, channels, size // s, size // s)
        cases.append(("conv2d 3x3", "conv2d", x_shape, (channels, channels, 3, 3), {"padding": 1}))
    for cin, cout, size in [(512, 256, 20), (64, 32, 160)]:
        x_shape = (b, cin, size // s, size // s)
        weight = (cin, cout, 2, 2)
        cases.append(("conv_transpose2d 2x2/2", "conv_transpose2d", x_shape, weight, {"stride": 2}))
    cases.append(("conv1d k3", "conv1d", (b, 64, 4096 // s), (64, 64, 3), {"padding": 1}))
    rows = []
    for label, op, x_shape, w_shape, kwargs in cases:
        torch.manual_seed(0)
        x = torch.randn(x_shape, requires_grad=True)
        weight = (torch.randn(w_shape) * 0.1).requires_grad_()
        ours_op, ref_op = getattr(ours_f, op), getattr(F, op)
        ours = forward_backward(
            lambda x, w, f=ours_op, k=kwargs: f(x, w, None, **k), x, weight, bf16=args.bf16
        )
        ref = forward_backward(
            lambda x, w, f=ref_op, k=kwargs: f(x, w, None, **k), x, weight, bf16=args.bf16
        )
        case = f"{label} {x_shape[1]}->{w_shape[1] if 'transpose' in op else w_shape[0]}"
        case += f" @{'x'.join(map(str, x_shape[2:]))}"
        rows.append(time_pair("conv", case, ours, ref, args.repeats))
    return rows


SECTIONS = {"optim": bench_optim, "norm": bench_norm, "conv": bench_conv}


def table(rows: list[Comparison], markdown: bool) -> str:
    """The rows as an aligned text table, or as a Markdown table."""
    header = ("section", "case", "ours ms", "torch ms", "speed-up")
    cells = [
        (r.section, r.case, f"{r.ours_ms:.3f}", f"{r.reference_ms:.3f}", f"{r.ratio:.2f}")
        for r in rows
    ]
    return format_table(header, cells, left=2, markdown=markdown)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats, spatial sizes / 4")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per case")
    parser.add_argument("--batch", type=int, default=1, help="batch size of norm/conv inputs")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads (default: torch's; on a shared machine use 1, since "
        "multi-threaded ops wait for descheduled threads and timings measure the scheduler)",
    )
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append", help="sections")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--bf16", action="store_true", help="norm and conv under bf16 autocast")
    args = parser.parse_args(argv)
    if args.batch < 1 or (args.threads is not None and args.threads < 1):
        parser.error("--batch and --threads must be positive")
    args.shrink = 4 if args.quick else 1
    args.repeats = args.repeats or (3 if args.quick else 20)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, "
        f"median of {args.repeats} (speed-up = torch / ours)"
        + (", bf16 autocast" if args.bf16 else "")
        + (", quick: spatial sizes / 4" if args.quick else "")
    )
    rows: list[Comparison] = []
    for name in args.only or list(SECTIONS):
        rows += SECTIONS[name](args)
    print(table(rows, args.markdown))


if __name__ == "__main__":
    main()
