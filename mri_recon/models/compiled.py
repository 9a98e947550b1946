"""A network's forward under ``torch.compile``, or eager when compilation fails.

``Compiled(net)`` is a callable that runs ``net`` through ``torch.compile`` (inductor's
kernels fuse the norms, activations and pooling between the matrix products). Compilation happens
at the first call; when it fails for any reason (no C++ compiler, an operation inductor cannot
lower) the call and every later one run ``net`` eagerly, after one warning line saying why. The
network itself is not wrapped: its parameters, ``state_dict`` and checkpoints are those of the
eager module (no ``_orig_mod.`` prefixes).

The from-scratch convolutions enter the graph as single operators (:mod:`mri_recon.nn.conv_ops`)
and the from-scratch norms as traced code that inductor fuses.
"""

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from mri_recon.precision import inductor_options, use_compile_cache


class Compiled:
    """``net`` called through ``torch.compile``; eagerly for a batch smaller than its batch
    size, and for every call once compilation has failed.

    Args:
        net: the network (left as it is: compilation wraps its calls, not the module).
        purpose: ``train`` or ``inference``: with the device of ``net``'s parameters it picks
            inductor's settings (:func:`mri_recon.precision.inductor_options`).
        dynamic: passed to ``torch.compile``; ``None`` lets dynamo make a dimension dynamic the
            second time it changes (k-space widths that vary from volume to volume).
        backend: ``torch.compile``'s backend: ``inductor`` (kernels) or, to see what dynamo
            traces without generating code, ``eager``.
        weights_format: where given, ``net``'s 4-D weights are put in this memory format for the
            compiled calls (``mri_recon.precision.inference_weights_format``), and back in the
            contiguous format if compilation fails. Only for a network the caller runs for
            inference alone: training keeps its weights' format.
        batch_size: calls whose first argument holds fewer samples (an epoch's or a shape
            group's last batch) run eagerly; by default the largest batch called so far. Each
            smaller batch size compiled another graph: 17-21 s of a 2-core CPU for the demo's
            U-Net, to save about 0.1 s on that batch.
    """

    def __init__(
        self,
        net: nn.Module,
        purpose: str = "inference",
        dynamic: bool | None = None,
        backend: str = "inductor",
        weights_format: torch.memory_format | None = None,
        batch_size: int | None = None,
    ) -> None:
        use_compile_cache()
        self.net = net
        self.converted = weights_format is not None and any(
            p.dim() == 4 and not p.is_contiguous(memory_format=weights_format)
            for p in net.parameters()
        )
        if self.converted:
            net.to(memory_format=weights_format)
        parameter = next(net.parameters(), None)
        device = "cpu" if parameter is None else parameter.device
        self.options = inductor_options(device, purpose) if backend == "inductor" else None
        self.compiled: Callable[..., Any] | None = torch.compile(
            net, dynamic=dynamic, backend=backend, options=self.options
        )
        self.failure: str | None = None
        self.batch_size = batch_size or 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        samples = args[0].shape[0] if args and isinstance(args[0], torch.Tensor) else None
        if samples is not None:
            self.batch_size = max(self.batch_size, samples)
        if self.compiled is not None and (samples is None or samples == self.batch_size):
            try:
                return self.compiled(*args, **kwargs)
            except torch._dynamo.exc.TorchDynamoException as error:
                self.compiled = None
                self.failure = _first_line(error)
                if self.converted:
                    self.net.to(memory_format=torch.contiguous_format)
                warnings.warn(
                    f"torch.compile failed ({self.failure}); running eagerly", stacklevel=2
                )
        return self.net(*args, **kwargs)


def _first_line(error: BaseException) -> str:
    """The cause's message on one line (dynamo wraps it in a long explanation; a failing
    backend's own error is its ``inner_exception``)."""
    cause = error.__cause__ or getattr(error, "inner_exception", None) or error
    lines = str(cause).strip().splitlines() or [type(cause).__name__]
    return f"{type(cause).__name__}: {lines[0]}"
