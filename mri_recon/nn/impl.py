"""Which kernels a layer runs: ours (``"scratch"``) or PyTorch's (``"aten"``).

Every layer of :mod:`mri_recon.nn`, and the models built from them, takes an ``impl`` argument:
``"scratch"`` (the default) runs this package's functional forms, ``"aten"`` runs the
``torch.nn.functional`` kernel on the same parameters and buffers, as a reference and a fast
fallback. Both give the same result, so a trained network may switch (``set_impl``).
"""

from torch import nn

IMPLS = ("scratch", "aten")


def check_impl(impl: str, name: str = "impl", owner: str | None = None) -> None:
    """Raise ``ValueError`` unless ``impl`` is one of :data:`IMPLS`.

    Args:
        impl: the value given.
        name: the argument's name, for the message.
        owner: the layer or model the argument belongs to, for the message.
    """
    if impl not in IMPLS:
        where = f"{owner}: " if owner else ""
        raise ValueError(f"{where}{name} must be one of {IMPLS}, got {impl!r}")


def set_impl(module: nn.Module, impl: str) -> nn.Module:
    """Switches every layer of ``module`` that has an ``impl`` to ``impl``, in place.

    The parameters and buffers stay as they are: the same network, another kernel (for example
    torch's at inference, where ours buys nothing). Returns ``module``.
    """
    check_impl(impl)
    for layer in module.modules():
        if isinstance(getattr(layer, "impl", None), str) and layer.impl in IMPLS:
            layer.impl = impl
    return module
