"""The `Examples:` sections of the public entry points run as doctests, so they cannot drift."""

import doctest
import importlib

import pytest

MODULES = [
    "mri_recon.data.masks",  # create_mask
    "mri_recon.data.slice_dataset",  # SliceDataset
    "mri_recon.models.unet",  # Unet
    "mri_recon.models.varnet",  # VarNet
    "mri_recon.nn.conv",  # Conv2d
    "mri_recon.nn.norm",  # InstanceNorm2d
    "mri_recon.optim.adam",
    "mri_recon.optim.adamw",
    "mri_recon.optim.rmsprop",
    "mri_recon.optim.sgd",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} examples of {name} failed: see the captured output"
