"""What the hardware decides, in one place: the precision a network runs in (bf16 autocast where
the hardware computes bf16 fast, else float32) and whether it is compiled (``torch.compile``
where a compiler is there and the run is long enough to win the compilation back).

- Inference (``reconstruct``, ``evaluate --checkpoint``, the demo's scoring): ``--precision``
  (``RunOptions.precision``) is ``auto``, ``bf16`` or ``32``; ``auto`` resolves here, per device.
  Under bf16 only the network runs in autocast: the FFTs of the data pipeline, the network's
  output (cast back) and everything after it stay float32.
- Training: a recipe that sets no ``trainer.precision`` trains with ``bf16-mixed`` where bf16 is
  fast and with ``32-true`` elsewhere (``training_precision``, applied by ``mri-recon fit``).

Fast bf16 means: on the CPU, AVX-512 BF16 or AMX instructions (elsewhere a bf16 matmul falls
back to a scalar path many times slower than float32); on CUDA, a GPU with native bf16 (Ampere
and later). The measurements behind this rule are in docs/benchmarks.md.

One switch overrides what the hardware says, on any machine: ``MRI_RECON_FAST_BF16=1`` makes
every default resolve as on hardware with fast bf16 (an AVX2 machine then runs the bf16 paths,
slowly but correctly), ``MRI_RECON_FAST_BF16=0`` as on hardware without it (a machine with fast
bf16 runs the float32 paths). ``make test`` runs the precision-dependent tests both ways.

Light on purpose: ``mri-recon --help`` imports this module (through ``mri_recon.options``)
without torch; the functions import it when they run.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

PRECISIONS = ("auto", "bf16", "32")
FAST_BF16_VARIABLE = "MRI_RECON_FAST_BF16"  # "1" or "0": the switch (see above); unset: hardware


def fast_bf16_override() -> bool | None:
    """What ``MRI_RECON_FAST_BF16`` says (``None`` when unset: ask the hardware).

    Raises:
        ValueError: it is set to anything but ``1`` or ``0``.
    """
    import os

    value = os.environ.get(FAST_BF16_VARIABLE)
    if value is None or value == "":
        return None
    if value not in ("0", "1"):
        raise ValueError(f"{FAST_BF16_VARIABLE} must be 1 or 0 (or unset), got {value!r}")
    return value == "1"


def fast_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` computes bfloat16 matrix products natively (faster than float32), or
    what ``MRI_RECON_FAST_BF16`` says instead.

    Args:
        device: a CPU or CUDA device (or its type, ``"cpu"`` / ``"cuda"``).
    """
    import torch

    override = fast_bf16_override()
    if override is not None:
        return override

    kind = torch.device(device).type
    if kind == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if kind == "cpu":
        probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(torch.cpu, name, lambda: False)() for name in probes)
    return False


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """``bf16`` or ``32``: ``precision`` itself, or for ``auto`` what ``device`` runs fastest."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bf16" if fast_bf16(device) else "32"
    return precision


def inference_autocast(precision: str, device: torch.device | str) -> AbstractContextManager:
    """The autocast context a network runs in at a resolved ``precision`` (``bf16`` or ``32``)."""
    import torch

    kind = torch.device(device).type
    return torch.autocast(kind, dtype=torch.bfloat16, enabled=precision == "bf16")


def training_precision(accelerator: str | None) -> str:
    """Lightning's ``precision`` for a run on ``accelerator`` that sets none: ``bf16-mixed``
    where bf16 is fast, else ``32-true``.

    Args:
        accelerator: Lightning's ``trainer.accelerator``: ``cpu``, ``gpu``/``cuda``, or
            ``auto``/``None`` (CUDA when available, as Lightning picks).
    """
    import torch

    if accelerator in ("gpu", "cuda") or (
        accelerator in (None, "auto") and torch.cuda.is_available()
    ):
        device = "cuda"
    elif accelerator in (None, "auto", "cpu"):
        device = "cpu"
    else:  # mps, tpu, a custom accelerator object: Lightning's own default
        return "32-true"
    return "bf16-mixed" if fast_bf16(device) else "32-true"


COMPILE_CHOICES = ("auto", "on", "off")
# ``auto`` compiles where a run is long enough to win back a first (cold) compilation.
#
# Training: when the steps left would take, eagerly, at least the network's
# ``MIN_TRAINING_SECONDS_TO_COMPILE``, timed on the run's first steps (``TIMED_STEPS``): about a
# cold compilation's time over the share of a step that compiling saves. A step count cannot
# tell: the VarNet demo makes fewer steps than the U-Net demo and saves far more a step.
# Measured on 2-core CPUs, torch 2.14.1 (docs/benchmarks.md, "Compiled"):
# - U-Net: a cold compilation of the training step took 38-60 s; compiled steps saved 3% (the demo
#   in bf16, AVX-512 BF16 CPU), 5-10% (the fastMRI recipes, AVX2 float32 and AVX-512 BF16 bf16)
#   and about 10% (the demo, AVX2): 10 minutes. The demo's 2,160 steps (about 3.6 minutes in bf16
#   on the AVX-512 BF16 CPU) train eagerly: compiled from an empty cache its fit took 248 s
#   against 195 s eagerly there, and 477-490 s against 406 s on the AVX2 CPU.
# - VarNet: compiled steps saved 27% (the VarNet demo, AVX2 float32); on the AVX-512 BF16 CPU
#   (float32) the VarNet demo's 1,152 steps take about 6 minutes eagerly, and its fit took 488 s
#   compiled from an empty cache (the first epoch, compilation included, 169 s; then 45 s an
#   epoch) against 560 s eagerly (69 s an epoch): 5 minutes.
#
# Inference: at least ``MIN_INFERENCE_CALLS_TO_COMPILE`` batches of the demo's size. At batch 8
# the demo U-Net compiled in 50 s cold, 2.4 s cached, for 1.4x (0.05 s a batch; AVX2). Larger
# images save more a batch (the fastMRI recipes' U-Net, batch 8 of 320 x 320: 1.1 s, for 19-30 s
# of cold compilation), so an inference run counts in the demo's batches (``inference_calls``).
MIN_TRAINING_SECONDS_TO_COMPILE = {"Unet": 600.0, "VarNet": 300.0}  # by network class name
TIMED_STEPS = 4  # steps timed before training's ``auto`` decides, after one untimed warm-up step
MIN_INFERENCE_CALLS_TO_COMPILE = 1000
DEMO_BATCH_PIXELS = 8 * 256 * 128  # the demo's inference batch: 8 slices of 256 x 128 k-space


def training_pays(network: str, step_seconds: float, steps: float) -> bool:
    """Whether a training run of ``network`` (``Unet`` or ``VarNet``) whose eager step takes
    ``step_seconds`` wins a compilation back over its ``steps`` steps left
    (``MIN_TRAINING_SECONDS_TO_COMPILE``)."""
    return step_seconds * steps >= MIN_TRAINING_SECONDS_TO_COMPILE[network]


def inference_calls(batches: int, kspace_pixels: int) -> int:
    """An inference run's size for ``inference_pays``: its batches or, where more, its slices'
    k-space pixels (``kspace_pixels``, summed over slices) in batches of the demo's, on which
    ``MIN_INFERENCE_CALLS_TO_COMPILE`` was measured. fastMRI's knee validation set (7,135
    slices of 640 x 368) is 892 batches of 8 but 6,410 of the demo's."""
    return max(batches, kspace_pixels // DEMO_BATCH_PIXELS)


def inference_pays(calls: int) -> bool:
    """Whether an inference run of ``calls`` batches (``inference_calls``) wins a compilation
    back (``MIN_INFERENCE_CALLS_TO_COMPILE``)."""
    return calls >= MIN_INFERENCE_CALLS_TO_COMPILE


def compiler_problem(device: torch.device | str) -> str | None:
    """Why ``torch.compile`` cannot build kernels for ``device`` here (``None`` when it can):
    on the CPU, inductor needs a working C++ compiler (``$CXX``, else ``g++``); on CUDA, triton.
    """
    import importlib.util
    import os
    import shutil
    import subprocess

    import torch

    if torch.device(device).type == "cuda":
        return None if importlib.util.find_spec("triton") else "triton is not installed"
    compiler = os.environ.get("CXX", "g++")
    found = shutil.which(compiler)
    try:
        if (
            found is not None
            and subprocess.run([found, "--version"], capture_output=True, timeout=30).returncode
            == 0
        ):
            return None
    except (OSError, subprocess.SubprocessError):
        pass
    return f"no working C++ compiler ({compiler}) for torch.compile's CPU kernels"


def resolve_compile(choice: str, device: torch.device | str, pays: bool) -> bool:
    """Whether a network runs compiled: ``on``, ``off``, or for ``auto`` when the run is long
    enough (``pays``: ``training_pays`` or ``inference_pays``) and a compiler is there
    (``compiler_problem``).

    Args:
        choice: ``auto``, ``on`` or ``off`` (``--compile``, ``--model.compile``).
        device: where the network runs.
        pays: whether the run wins a compilation back.
    """
    if choice not in COMPILE_CHOICES:
        raise ValueError(f"compile must be one of {COMPILE_CHOICES}, got {choice!r}")
    if choice != "auto":
        return choice == "on"
    return pays and compiler_problem(device) is None


def use_compile_cache() -> None:
    """Keeps inductor's compiled kernels in mri-recon's cache folder (``~/.cache/mri-recon/
    inductor`` or as ``MRI_RECON_CACHE_DIR`` says), so that the next run of the same network
    compiles in seconds; a ``TORCHINDUCTOR_CACHE_DIR`` the user set is kept.

    Importing ``torch._dynamo`` (Lightning does) sets ``TORCHINDUCTOR_CACHE_DIR`` to torch's
    own default, ``/tmp/torchinductor_<user>``, which a reboot empties: that value counts as
    unset. Inductor reads the variable whenever it opens its cache, so setting it here, before
    the first compilation, is in time.
    """
    import os

    from torch._inductor.runtime.cache_dir_utils import default_cache_dir as torch_default

    from mri_recon.data.index_cache import default_cache_dir

    chosen = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if chosen is None or os.path.abspath(chosen) == os.path.abspath(torch_default()):
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(default_cache_dir() / "inductor")


def inductor_options(device: torch.device | str, purpose: str) -> dict[str, bool] | None:
    """Inductor settings that differ from its defaults on ``device`` for ``purpose`` (``train``
    or ``inference``), or ``None``.

    On a CPU, inductor lays out every torch convolution's activations and weights channels-last.
    Where the CPU has no fast bf16 (float32 on AVX2), oneDNN's channels-last convolution
    backward ran 1.3x to 2x slower than the contiguous one, and a fastMRI recipe's compiled
    training step 0.78x fastMRI's eager step instead of 0.97x; compiled inference at batch 8
    ran faster channels-last (1.49x against 1.21x; docs/benchmarks.md, "Compiled"). So training
    there keeps torch's contiguous layout. CPUs with fast bf16 and GPUs keep inductor's choice.
    """
    import torch

    if purpose == "train" and torch.device(device).type == "cpu" and not fast_bf16(device):
        return {"layout_optimization": False}
    return None


def inference_weights_format(device: torch.device | str) -> torch.memory_format:
    """The memory format of a compiled inference network's weights on ``device``.

    On a CPU, inductor runs inference convolutions channels-last (``inductor_options``) and
    converts contiguous weights to that layout inside the compiled graph, at every call.
    Weights already channels-last ran a recipe's U-Net at batch 8 1.03x-1.07x faster on an AVX2
    CPU and compiled it cold in 0.6x the time; the VarNet ran as fast either way. Eager
    convolutions ran 0.89x as fast with them, so only compiled calls get them
    (``mri_recon.models.compiled.Compiled``). GPUs keep torch's contiguous format (not
    measured).
    """
    import torch

    if torch.device(device).type == "cpu":
        return torch.channels_last
    return torch.contiguous_format
