"""The VarNet's seconds and peak memory per slice, training or inference, at fastMRI's sizes.

One slice of random multicoil k-space under a 4x equispaced mask with 8% centre lines goes
through ``mri_recon.models.VarNet`` (or, for ``reference``, ``fastmri.models.VarNet``). Modes:

- ``train``: forward, the backward pass of the output's sum and an Adam step;
- ``train-checkpointed``: the same with the cascades checkpointed (``checkpoint_cascades``);
- ``train-all-checkpointed``: the cascades and the sensitivity network checkpointed;
- ``inference``: a forward pass under ``torch.inference_mode``.

``measure`` reports the peak of the process it runs in: run each mode in a process of its own
(``mri_recon.benchmark.isolated``). On the CPU the peak is the resident set's (``ru_maxrss``), also
given above the resident set before the first pass (activations, gradients, optimizer state); on
a GPU ``torch.cuda.max_memory_allocated``.
"""

import resource
import statistics

import torch

from mri_recon.benchmark.timing import seconds as time_call
from mri_recon.models import VarNet
from mri_recon.optim import Adam

MODES = ("train", "train-checkpointed", "train-all-checkpointed", "inference")
FASTMRI_KNEE = {"coils": 15, "height": 640, "width": 368, "cascades": 12}
MIB = 1024 * 1024


def rss_bytes() -> int:
    """This process's resident set now (Linux: /proc/self/statm)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def sample(
    coils: int, height: int, width: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random masked k-space (1, coils, height, width, 2) and a 4x equispaced mask."""
    mask = torch.zeros(1, 1, 1, width, 1, dtype=torch.bool)
    mask[..., ::4, :] = True
    centre = round(0.08 * width)
    start = (width - centre) // 2
    mask[..., start : start + centre, :] = True
    kspace = torch.randn(1, coils, height, width, 2) * mask
    return kspace.to(device), mask.to(device)


def measure(
    mode: str,
    coils: int = 15,
    height: int = 640,
    width: int = 368,
    cascades: int = 12,
    steps: int = 2,
    impl: str = "aten",
    device: str = "cpu",
    reference: bool = False,
) -> dict[str, float]:
    """One mode's median seconds per slice over ``steps`` passes after a warm-up, and this
    process's peak memory (MiB): ``peak_mib`` and ``above_mib`` (above the start)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    run_on = torch.device(device)
    if reference:
        from fastmri.models import VarNet as FastmriVarNet

        net = FastmriVarNet(num_cascades=cascades).to(run_on)
    else:
        net = VarNet(
            num_cascades=cascades,
            conv_impl=impl,
            norm_impl=impl,
            checkpoint_cascades=mode in ("train-checkpointed", "train-all-checkpointed"),
            checkpoint_sensitivity=mode == "train-all-checkpointed",
        ).to(run_on)
    optimizer = Adam(net.parameters(), lr=3e-4)
    kspace, mask = sample(coils, height, width, run_on)
    training = mode != "inference"
    net.train(training)

    def step() -> None:
        if training:
            optimizer.zero_grad(set_to_none=True)
            net(kspace, mask).sum().backward()
            optimizer.step()
        else:
            with torch.inference_mode():
                net(kspace, mask)
        if run_on.type == "cuda":
            torch.cuda.synchronize()

    before = rss_bytes()
    step()  # warm-up (and the optimizer's state)
    median = statistics.median(time_call(step) for _ in range(steps))
    if run_on.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / MIB
        return {"seconds": median, "peak_mib": peak, "above_mib": peak}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    return {"seconds": median, "peak_mib": peak / MIB, "above_mib": (peak - before) / MIB}
