"""A network's forward under ``torch.compile``, or eager when compilation fails.

``Compiled(net)`` is a callable that runs ``net`` through ``torch.compile`` (inductor's
kernels fuse the norms, activations and pooling between the matrix products). Compilation happens
at the first call; when it fails for any reason (no C++ compiler, an operation inductor cannot
lower) the call and every later one run ``net`` eagerly, after one warning line saying why. The
network itself is not wrapped: its parameters, ``state_dict`` and checkpoints are those of the
eager module (no ``_orig_mod.`` prefixes).

Networks with the from-scratch convolutions compile with inductor's buffers realized: by
default inductor inlines a cheap pointwise chain into each of its readers, and an im2col gather
reads its input once per kernel tap, so the norm's and LeakyReLU's backward arithmetic would
run nine times for a 3 x 3 kernel instead of once (docs/benchmarks.md, "The from-scratch layers
compiled").
"""

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from mri_recon.nn import Conv1d, Conv2d, ConvTranspose2d
from mri_recon.precision import use_compile_cache

# Inductor's settings for networks with scratch convolutions: every intermediate is computed
# once into a buffer rather than recomputed inside each kernel that reads it.
SCRATCH_CONV_OPTIONS = {"realize_reads_threshold": 1, "realize_opcount_threshold": 1}


class Compiled:
    """``net`` called through ``torch.compile``, eagerly once compilation has failed.

    Args:
        net: the network (left as it is: compilation wraps its calls, not the module).
        dynamic: passed to ``torch.compile``; ``None`` lets dynamo make a dimension dynamic the
            second time it changes (k-space widths that vary from volume to volume).
        backend: ``torch.compile``'s backend: ``inductor`` (kernels) or, to see what dynamo
            traces without generating code, ``eager``.
    """

    def __init__(
        self, net: nn.Module, dynamic: bool | None = None, backend: str = "inductor"
    ) -> None:
        use_compile_cache()
        self.net = net
        self.options = compile_options(net, backend)
        self.compiled: Callable[..., Any] | None = torch.compile(
            net, dynamic=dynamic, backend=backend, options=self.options
        )
        self.failure: str | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.compiled is not None:
            try:
                return self.compiled(*args, **kwargs)
            except torch._dynamo.exc.TorchDynamoException as error:
                self.compiled = None
                self.failure = _first_line(error)
                warnings.warn(
                    f"torch.compile failed ({self.failure}); running eagerly", stacklevel=2
                )
        return self.net(*args, **kwargs)


def compile_options(net: nn.Module, backend: str) -> dict[str, int] | None:
    """Inductor's options for ``net``: :data:`SCRATCH_CONV_OPTIONS` where a convolution runs
    the from-scratch kernels, else inductor's defaults (``None``, as for any other backend)."""
    scratch = any(
        isinstance(m, (Conv1d, Conv2d, ConvTranspose2d)) and m.impl == "scratch"
        for m in net.modules()
    )
    return dict(SCRATCH_CONV_OPTIONS) if backend == "inductor" and scratch else None


def _first_line(error: BaseException) -> str:
    """The cause's message on one line (dynamo wraps it in a long explanation)."""
    cause = error.__cause__ or error
    lines = str(cause).strip().splitlines() or [type(cause).__name__]
    return f"{type(cause).__name__}: {lines[0]}"
