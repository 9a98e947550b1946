"""Every ``Examples:`` section in the package runs as a doctest, so none can drift.

The modules are found, not listed: each module of ``mri_recon`` whose source holds an example
(``>>>``) is collected, so a new example runs without anyone adding it here.
"""

import doctest
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

import mri_recon


def modules_with_examples() -> list[str]:
    """The dotted names of the package's modules whose source holds a ``>>>`` example."""
    found = []
    for info in pkgutil.walk_packages(mri_recon.__path__, prefix="mri_recon."):
        spec = importlib.util.find_spec(info.name)
        if spec.origin and spec.origin.endswith(".py") and ">>> " in Path(spec.origin).read_text():
            found.append(info.name)
    return sorted(found)


def test_the_known_examples_are_found() -> None:
    found = modules_with_examples()
    assert {"mri_recon.data.finite", "mri_recon.data.slice_dataset", "mri_recon.nn.conv"} <= set(
        found
    )


@pytest.mark.parametrize("name", modules_with_examples())
def test_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} examples of {name} failed: see the captured output"
