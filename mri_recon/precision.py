"""The precision a network runs in: bf16 autocast where the hardware computes bf16 fast, else
float32. The one place where that hardware-dependent default is decided.

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
