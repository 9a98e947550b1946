"""The fastMRI data layer: slice datasets, undersampling masks, U-Net transforms and loaders.

The names below load on first use (PEP 562), so the light modules of this package
(``fastmri_format``, ``masks``: the command line's choices) import without torch, h5py or fastmri,
and the simulator does not pay for Lightning.
"""

from importlib import import_module

_HOMES = {
    "BadFileError": "file_check",
    "FastMriDataModule": "datamodule",
    "SliceDataset": "slice_dataset",
    "UnetDataTransform": "transforms",
    "UnetSample": "transforms",
    "VolumeSampler": "volume_sampler",
    "create_mask": "masks",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
