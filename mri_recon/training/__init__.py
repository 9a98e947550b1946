"""Training with PyTorch Lightning 2.x: the LightningModule, its metrics, callbacks, checkpoints
and CLI.

The names below load on first use (PEP 562): reading a checkpoint does not import Lightning.
"""

from importlib import import_module

_HOMES = {
    "ReconCheckpoint": "checkpoint",
    "ReconModule": "module",
    "load_checkpoint": "checkpoint",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
