"""The reference Function (``fused=False``) against the fused one; gradcheck of the reference."""

import pytest
import torch
from torch import nn

from mri_recon.nn import norm
from mri_recon.nn import norm_functional as NF

SHAPE = (2, 6, 4, 5)  # (N, C, H, W); group norm uses 3 groups, layer norm the trailing (H, W)

# name -> the functional form on (x, weight, bias, running mean, running var, fused)
FORMS = {
    "batch_norm train": lambda x, w, b, rm, rv, fused: NF.batch_norm(
        x, rm, rv, w, b, training=True, fused=fused
    ),
    "batch_norm eval": lambda x, w, b, rm, rv, fused: NF.batch_norm(
        x, rm, rv, w, b, training=False, fused=fused
    ),
    "instance_norm train": lambda x, w, b, rm, rv, fused: NF.instance_norm(
        x, rm, rv, w, b, use_input_stats=True, fused=fused
    ),
    "instance_norm eval": lambda x, w, b, rm, rv, fused: NF.instance_norm(
        x, rm, rv, w, b, use_input_stats=False, fused=fused
    ),
    "group_norm": lambda x, w, b, rm, rv, fused: NF.group_norm(x, 3, w, b, fused=fused),
    "layer_norm": lambda x, w, b, rm, rv, fused: NF.layer_norm(x, SHAPE[2:], w, b, fused=fused),
}


def _inputs(name: str, affine: bool, dtype: torch.dtype, offset: float) -> list:
    """x (offset from 0 by ``offset`` standard deviations), weight, bias and running buffers."""
    torch.manual_seed(0)
    param_shape = SHAPE[2:] if name == "layer_norm" else SHAPE[1:2]
    x = torch.randn(SHAPE, dtype=dtype) * 2 + offset * 2
    w = torch.randn(param_shape, dtype=dtype) if affine else None
    b = torch.randn(param_shape, dtype=dtype) if affine else None
    running_mean = torch.full(SHAPE[1:2], offset * 2, dtype=dtype) + torch.rand(
        SHAPE[1], dtype=dtype
    )
    running_var = torch.rand(SHAPE[1], dtype=dtype) * 4 + 2
    return [x, w, b, running_mean, running_var]


@pytest.mark.parametrize("name", FORMS)
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-12), (torch.float32, 2e-5)])
@pytest.mark.parametrize("offset", [0.0, 20.0])
def test_reference_equals_fused(name, affine, dtype, tol, offset):
    """Output, the three gradients and the running buffers; offset 20 takes the centred path."""
    inputs = _inputs(name, affine, dtype, offset)
    grad = torch.randn(SHAPE, dtype=dtype)
    results = []
    for fused in (True, False):
        x, w, b, rm, rv = (None if t is None else t.clone() for t in inputs)
        leaves = [t.requires_grad_() for t in (x, w, b) if t is not None]
        y = FORMS[name](x, w, b, rm, rv, fused)
        y.backward(grad)
        results.append([y.detach(), *(t.grad for t in leaves), rm, rv])
    for got, want in zip(results[0], results[1], strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=tol * want.abs().max().item())


@pytest.mark.parametrize("name", FORMS)
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("offset", [0.0, 20.0])
def test_gradcheck_reference(name, affine, offset):
    x, w, b, rm, rv = _inputs(name, affine, torch.float64, offset)
    leaves = [t.requires_grad_() for t in (x, w, b) if t is not None]

    def fn(*args: torch.Tensor) -> torch.Tensor:
        x, w, b = args if affine else (args[0], None, None)
        return FORMS[name](x, w, b, rm.clone(), rv.clone(), False)

    assert torch.autograd.gradcheck(fn, tuple(leaves))


@pytest.mark.parametrize(
    ("name", "args", "kwargs"),
    [
        ("BatchNorm2d", (6,), {}),
        ("InstanceNorm2d", (6,), {"affine": True, "track_running_stats": True}),
        ("GroupNorm", (3, 6), {}),
        ("LayerNorm", (SHAPE[1:],), {}),
    ],
)
def test_layers_take_fused(name, args, kwargs):
    torch.manual_seed(0)
    layers = [getattr(norm, name)(*args, **kwargs, fused=fused) for fused in (True, False)]
    x = torch.randn(SHAPE) + 3
    for training in (True, False):
        ys = [layer.train(training)(x) for layer in layers]
        torch.testing.assert_close(ys[1], ys[0])
    for got, want in zip(layers[1].buffers(), layers[0].buffers(), strict=True):
        torch.testing.assert_close(got, want)
    assert "fused" not in repr(layers[0]) and "impl='scratch', fused=False" in repr(layers[1])
    with pytest.raises(ValueError, match="fused=False"):
        getattr(norm, name)(*args, **kwargs, impl="aten", fused=False)


def test_reference_under_bf16_autocast_matches_torch():
    """Half-precision input: computed in float32, returned (and its gradient) in bfloat16."""
    torch.manual_seed(0)
    ours, ref = norm.GroupNorm(2, 4, fused=False), nn.GroupNorm(2, 4)
    x = torch.randn(2, 4, 5, 5).bfloat16()
    grad = torch.randn(2, 4, 5, 5).bfloat16()
    results = []
    for module in (ours, ref):
        xi = x.clone().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = module(xi)
        y.backward(grad)
        results.append((y, xi.grad, module.weight.grad))
    for got, want in zip(*results, strict=True):
        assert got.dtype == want.dtype
        scale = want.abs().max().item()
        torch.testing.assert_close(got.float(), want.float(), atol=2e-2 * scale, rtol=2e-2)
