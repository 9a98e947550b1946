"""Package attributes imported on first use (PEP 562), so that importing a package for one light
module does not import the heavy ones beside it."""

from collections.abc import Callable, Mapping
from importlib import import_module


def lazy_attributes(
    package: str, homes: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` for the names in ``homes``.

    Args:
        package: the package's ``__name__``.
        homes: each exported name and the submodule that defines it, e.g.
            ``{"SliceDataset": "slice_dataset"}``.
    """

    def __getattr__(name: str) -> object:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{homes[name]}"), name)

    def __dir__() -> list[str]:
        return sorted({*import_module(package).__dict__, *homes})

    return __getattr__, __dir__
