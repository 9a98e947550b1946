"""The from-scratch Normalize Function: gradcheck, partial gradients, precision, bf16 autocast."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mri_recon.nn import norm
from mri_recon.nn import norm_functional as NF

RUNNING_MEAN = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
RUNNING_VAR = torch.tensor([0.7, 1.3, 2.5], dtype=torch.float64)


def _double(*shape: int, requires_grad: bool = True) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64, requires_grad=requires_grad)


@pytest.mark.parametrize(
    ("name", "fn"),
    [
        ("batch_norm train", lambda x, w, b: NF.batch_norm(x, None, None, w, b, training=True)),
        ("batch_norm eval", lambda x, w, b: NF.batch_norm(x, RUNNING_MEAN, RUNNING_VAR, w, b)),
        ("instance_norm", lambda x, w, b: NF.instance_norm(x, weight=w, bias=b)),
        ("group_norm", lambda x, w, b: NF.group_norm(x, 3, w, b)),
        ("group_norm 1 group", lambda x, w, b: NF.group_norm(x, 1, w, b)),
    ],
)
@pytest.mark.parametrize("offset", [0.0, 40.0])
def test_gradcheck_float64(name, fn, offset):
    """offset 40 makes mean^2 > 100 var: the centred path of Normalize."""
    torch.manual_seed(0)
    x = (torch.randn(2, 3, 4, 5, dtype=torch.float64) + offset).requires_grad_()
    w, b = _double(3), _double(3)
    assert torch.autograd.gradcheck(fn, (x, w, b)), name


@pytest.mark.parametrize("offset", [0.0, 40.0])
def test_gradcheck_layer_norm_elementwise_affine(offset):
    """Layer norm's elementwise weight takes its own output path (x r - mu r) w + b."""
    torch.manual_seed(0)
    x = (torch.randn(2, 3, 4, 5, dtype=torch.float64) + offset).requires_grad_()
    w, b = _double(4, 5), _double(4, 5)
    assert torch.autograd.gradcheck(lambda x, w, b: NF.layer_norm(x, (4, 5), w, b), (x, w, b))


@pytest.mark.parametrize("affine", [False, True])
def test_gradcheck_without_bias_or_affine(affine):
    torch.manual_seed(0)
    x = _double(3, 4, 5)
    w = _double(4) if affine else None
    assert torch.autograd.gradcheck(lambda x: NF.group_norm(x, 2, w, None), (x,))
    assert torch.autograd.gradcheck(lambda x: NF.layer_norm(x, (5,), None, None), (x,))


def test_partial_gradients_follow_needs_input_grad():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 4)
    weight = torch.randn(3, requires_grad=True)
    bias = torch.randn(3)
    NF.instance_norm(x, weight=weight, bias=bias).square().sum().backward()
    expected = torch.randn(3).requires_grad_()
    with torch.no_grad():
        expected.copy_(weight)
    F.instance_norm(x, weight=expected, bias=bias).square().sum().backward()
    torch.testing.assert_close(weight.grad, expected.grad, rtol=1e-4, atol=1e-5)
    assert x.grad is None


@pytest.mark.parametrize(
    ("param_shape", "fn"),
    [
        ((4,), lambda x, w, b: NF.batch_norm(x, None, None, w, b, training=True)),
        ((4,), lambda x, w, b: NF.instance_norm(x, weight=w, bias=b)),
        ((4,), lambda x, w, b: NF.group_norm(x, 2, w, b)),
        ((8, 8), lambda x, w, b: NF.layer_norm(x, (8, 8), w, b)),
    ],
    ids=["batch_norm", "instance_norm", "group_norm", "layer_norm"],
)
def test_large_offset_keeps_float32_precision(param_shape, fn):
    """A mean 1e4 times the spread: float32 within 1e-5 of float64, relative to the result's size.

    x lies on a grid of 1/8, so float32 holds it and every partial sum over a group exactly: the
    float32 mean is exact and what remains is the arithmetic's error (below 1e-6 here). Without
    centring, sum(g x) - mu sum(g) in the backward loses about 1e4 times float32's precision.
    """
    torch.manual_seed(0)
    x = torch.round(torch.randn(2, 4, 8, 8) * 8) / 8 + 1e4
    w, b = torch.rand(param_shape) + 0.5, torch.randn(param_shape)
    grad = torch.randn_like(x)
    results = []
    for dtype in (torch.float64, torch.float32):
        leaves = [t.to(dtype).clone().requires_grad_() for t in (x, w, b)]
        y = fn(*leaves)
        y.backward(grad.to(dtype))
        results.append([y.detach()] + [t.grad for t in leaves])
    for want, got in zip(*results, strict=True):
        scale = want.abs().max().item()
        torch.testing.assert_close(got.double(), want, atol=1e-5 * scale, rtol=0)


def test_float64_modules_update_float64_buffers_like_torch():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, 5, dtype=torch.float64)
    ours = norm.BatchNorm2d(3, dtype=torch.float64)
    ref = nn.BatchNorm2d(3, dtype=torch.float64)
    torch.testing.assert_close(ours(x), ref(x))
    torch.testing.assert_close(ours.running_var, ref.running_var)
    assert ours.running_var.dtype == torch.float64


@pytest.mark.parametrize(
    ("name", "args", "kwargs"),
    [
        ("BatchNorm2d", (8,), {}),
        ("InstanceNorm2d", (8,), {}),
        ("InstanceNorm2d", (8,), {"affine": True, "track_running_stats": True}),
        ("GroupNorm", (4, 8), {}),
        ("LayerNorm", ((8, 6, 6),), {}),
    ],
)
def test_bf16_autocast_matches_torch(name, args, kwargs):
    """A random upstream gradient (not y^2, which normalization makes nearly constant)."""
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 8, 3, padding=1)
    ours, ref = getattr(norm, name)(*args, **kwargs), getattr(nn, name)(*args, **kwargs)
    x, grad = torch.randn(2, 3, 6, 6), torch.randn(2, 8, 6, 6)
    outputs, grads = [], []
    for module in (ours, ref):
        conv.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            hidden = conv(x)
            assert hidden.dtype == torch.bfloat16
            hidden.retain_grad()
            y = module(hidden)
        (y.float() * grad).sum().backward()
        outputs.append(y)
        params = [p.grad for p in module.parameters()]
        grads.append([hidden.grad, conv.weight.grad.clone(), *params])
    assert outputs[0].dtype == outputs[1].dtype == torch.bfloat16
    torch.testing.assert_close(outputs[0].float(), outputs[1].float(), atol=3e-2, rtol=2e-2)
    assert grads[0][0].dtype == grads[1][0].dtype == torch.bfloat16  # the norm's input gradient
    for got, want in zip(grads[0], grads[1], strict=True):
        assert got.dtype == want.dtype
        scale = want.abs().max().item()
        torch.testing.assert_close(got.float(), want.float(), atol=2e-2 * scale, rtol=2e-2)
    for got, want in zip(ours.buffers(), ref.buffers(), strict=True):
        assert got.dtype == want.dtype
        torch.testing.assert_close(got, want, atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize(
    ("name", "args", "kwargs"),
    [
        ("BatchNorm2d", (4,), {}),
        ("InstanceNorm2d", (4,), {"affine": True, "track_running_stats": True}),
    ],
)
@pytest.mark.parametrize("input_grad", [True, False])
def test_bf16_running_stats_and_weight_only_gradients_match_torch(name, args, kwargs, input_grad):
    """Half-precision g is copied to float32 once and reused; eval mode and dL/dw alone too."""
    torch.manual_seed(0)
    ours, ref = getattr(norm, name)(*args, **kwargs), getattr(nn, name)(*args, **kwargs)
    with torch.no_grad():
        for module in (ours, ref):
            module.weight.copy_(torch.linspace(0.5, 2.0, 4))
            module.running_mean.copy_(torch.linspace(-1.0, 1.0, 4))
            module.running_var.copy_(torch.linspace(0.5, 1.5, 4))
    x = (torch.randn(2, 4, 6, 6) * 2 + 1).bfloat16()
    grad = torch.randn(2, 4, 6, 6).bfloat16()
    for training in (True, False):
        results = []
        for module in (ours, ref):
            module.train(training).zero_grad()
            xi = x.clone().requires_grad_(input_grad)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                y = module(xi)
            y.backward(grad)
            results.append((y.float(), xi.grad, module.weight.grad, module.bias.grad))
        (y, dx, dw, db), (y_ref, dx_ref, dw_ref, db_ref) = results
        torch.testing.assert_close(y, y_ref, atol=3e-2, rtol=2e-2)
        if input_grad:
            assert dx.dtype == dx_ref.dtype == torch.bfloat16
            torch.testing.assert_close(dx.float(), dx_ref.float(), atol=3e-2, rtol=2e-2)
        else:
            assert dx is None and dx_ref is None
        torch.testing.assert_close(dw, dw_ref, atol=1e-2, rtol=1e-2)
        torch.testing.assert_close(db, db_ref, atol=1e-2, rtol=1e-2)


def test_bf16_input_outside_autocast_returns_bf16():
    x = torch.randn(2, 4, 5, 5).bfloat16()
    y = norm.GroupNorm(2, 4)(x)
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), F.group_norm(x.float(), 2), atol=3e-2, rtol=2e-2)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: NF.batch_norm(torch.randn(2, 3), None, None, training=False), "running_mean"),
        (lambda: NF.batch_norm(torch.randn(3), None, None, training=True), "batch_norm"),
        (lambda: NF.instance_norm(torch.randn(3, 4), use_input_stats=True), "instance_norm"),
        (lambda: NF.instance_norm(torch.randn(2, 3, 4), use_input_stats=False), "running"),
        (lambda: NF.group_norm(torch.randn(2, 6, 3), 4), "num_groups"),
        (lambda: NF.layer_norm(torch.randn(2, 6), (5,)), "normalized_shape"),
    ],
)
def test_functional_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_double_backward_is_refused():
    x = _double(2, 3, 4, 4)
    (grad,) = torch.autograd.grad(NF.instance_norm(x).square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice"):
        grad.sum().backward()


@pytest.mark.parametrize("name", ["BatchNorm2d", "InstanceNorm2d", "GroupNorm"])
def test_channels_last_and_strided_inputs_match_torch(name):
    torch.manual_seed(0)
    args = (2, 6) if name == "GroupNorm" else (6,)
    ours, ref = getattr(norm, name)(*args), getattr(nn, name)(*args)
    base = torch.randn(2, 6, 5, 14)
    for x in (base.to(memory_format=torch.channels_last), base[..., ::2]):
        xs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
        ys = [ours(xs[0]), ref(xs[1])]
        grad = torch.randn_like(ys[1])
        ys[0].backward(grad), ys[1].backward(grad)
        torch.testing.assert_close(ys[0], ys[1], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(xs[0].grad, xs[1].grad, atol=1e-5, rtol=1e-4)
