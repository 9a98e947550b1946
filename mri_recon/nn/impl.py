"""Which kernels a layer runs: ours (``"scratch"``) or PyTorch's (``"aten"``).

Every layer of :mod:`mri_recon.nn`, and the models built from them, takes an ``impl`` argument:
``"scratch"`` (the default) runs this package's functional forms, ``"aten"`` runs the
``torch.nn.functional`` kernel on the same parameters and buffers, as a reference and a fast
fallback. Both give the same result.
"""

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
