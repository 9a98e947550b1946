"""The normalization modules against torch.nn's: outputs, gradients, buffers and state dicts."""

import pytest
import torch
from torch import Tensor, nn

from mri_recon.nn import norm

SHAPES_4D = [(2, 4, 5, 7), (3, 6, 1, 9), (1, 3, 11, 4)]


def _pair(name: str, *args, **kwargs) -> tuple[nn.Module, nn.Module]:
    """Ours and torch's module of the same class, with equal random parameters."""
    torch.manual_seed(0)
    ours, ref = getattr(norm, name)(*args, **kwargs), getattr(nn, name)(*args, **kwargs)
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn_like(p))
    ours.load_state_dict(ref.state_dict())
    return ours, ref


def _run(module: nn.Module, x: Tensor, grad: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """Forward and backward; returns the output, the input gradient and the parameter gradients."""
    x = x.clone().requires_grad_()
    y = module(x)
    y.backward(grad)
    grads = {name: p.grad for name, p in module.named_parameters()}
    return y.detach(), x.grad, grads


def _assert_same(ours: nn.Module, ref: nn.Module, x: Tensor, atol: float = 2e-5) -> None:
    """One forward+backward of each module on `x`: outputs, gradients and buffers must match."""
    grad = torch.randn_like(x)
    y, dx, dparams = _run(ours, x, grad)
    y_ref, dx_ref, dparams_ref = _run(ref, x, grad)
    torch.testing.assert_close(y, y_ref, atol=atol, rtol=1e-4)
    torch.testing.assert_close(dx, dx_ref, atol=atol, rtol=1e-4)
    assert dparams.keys() == dparams_ref.keys()
    for name in dparams:
        torch.testing.assert_close(dparams[name], dparams_ref[name], atol=1e-4, rtol=1e-4)
    buffers_ref = dict(ref.named_buffers())
    for name, buf in ours.named_buffers():
        torch.testing.assert_close(buf, buffers_ref[name], atol=1e-6, rtol=1e-5)


def _batch(shape: tuple[int, ...], seed: int = 1) -> Tensor:
    """Input with a non-zero mean and non-unit spread, so normalizing is not a no-op."""
    torch.manual_seed(seed)
    return torch.randn(shape) * 3.0 + 2.0


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 7), (1, 3, 6)])
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm1d_matches_torch(shape, momentum, affine):
    ours, ref = _pair("BatchNorm1d", 3, momentum=momentum, affine=affine)
    for step in range(3):
        _assert_same(ours, ref, _batch(shape, step))
    assert ours.num_batches_tracked.item() == 3
    ours.eval(), ref.eval()
    _assert_same(ours, ref, _batch(shape, 9))


@pytest.mark.parametrize("shape", SHAPES_4D)
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"affine": False}, {"bias": False}, {"momentum": None}, {"track_running_stats": False}],
)
def test_batchnorm2d_matches_torch(shape, kwargs):
    ours, ref = _pair("BatchNorm2d", shape[1], **kwargs)
    for step in range(2):
        _assert_same(ours, ref, _batch(shape, step))
    ours.eval(), ref.eval()
    _assert_same(ours, ref, _batch(shape, 9))


@pytest.mark.parametrize("shape", SHAPES_4D + [(4, 5, 6)])
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("track", [False, True])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_instancenorm2d_matches_torch(shape, affine, track, momentum):
    channels = shape[-3]
    ours, ref = _pair(
        "InstanceNorm2d", channels, affine=affine, track_running_stats=track, momentum=momentum
    )
    for step in range(2):
        _assert_same(ours, ref, _batch(shape, step))
    ours.eval(), ref.eval()
    _assert_same(ours, ref, _batch(shape, 9))


@pytest.mark.parametrize("shape", [(2, 3, 1, 1), (3, 1, 1)])
def test_instancenorm2d_refuses_one_spatial_element_in_training_as_torch_does(shape):
    """One pixel per channel has no variance to normalise by: both refuse, in one line."""
    ours, ref = _pair("InstanceNorm2d", 3)
    x = torch.randn(shape)
    with pytest.raises(ValueError, match="more than 1 spatial element when training"):
        ref(x)
    with pytest.raises(ValueError, match="expected more than 1 spatial element when training"):
        ours(x)


@pytest.mark.parametrize(
    ("normalized_shape", "shape"),
    [(7, (3, 7)), ((5, 7), (2, 4, 5, 7)), ((4, 5, 7), (2, 4, 5, 7)), (3, (5, 3))],
)
@pytest.mark.parametrize(
    "kwargs", [{}, {"elementwise_affine": False}, {"bias": False}, {"eps": 1e-3}]
)
def test_layernorm_matches_torch(normalized_shape, shape, kwargs):
    ours, ref = _pair("LayerNorm", normalized_shape, **kwargs)
    _assert_same(ours, ref, _batch(shape))


@pytest.mark.parametrize(("groups", "channels"), [(1, 6), (2, 6), (3, 6), (6, 6)])
@pytest.mark.parametrize("shape", [(2, 5, 7), (3, 1, 2), (1, 9, 4)])
@pytest.mark.parametrize("kwargs", [{}, {"affine": False}, {"bias": False}])
def test_groupnorm_matches_torch(groups, channels, shape, kwargs):
    ours, ref = _pair("GroupNorm", groups, channels, **kwargs)
    _assert_same(ours, ref, _batch((shape[0], channels, *shape[1:])))


def test_groupnorm_with_one_group_per_channel_is_instancenorm():
    x = _batch((2, 4, 5, 6))
    group, instance = norm.GroupNorm(4, 4), norm.InstanceNorm2d(4, affine=True)
    with torch.no_grad():
        group.weight.copy_(torch.randn(4))
        group.bias.copy_(torch.randn(4))
    instance.load_state_dict(group.state_dict())
    grad = torch.randn_like(x)
    for got, want in zip(_run(group, x, grad)[:2], _run(instance, x, grad)[:2], strict=True):
        torch.testing.assert_close(got, want)


def test_groupnorm_with_one_group_is_layernorm_over_chw():
    x = _batch((3, 4, 5, 6))
    group = norm.GroupNorm(1, 4, affine=False)
    layer = norm.LayerNorm((4, 5, 6), elementwise_affine=False)
    grad = torch.randn_like(x)
    for got, want in zip(_run(group, x, grad)[:2], _run(layer, x, grad)[:2], strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize(
    ("name", "args", "shape"),
    [
        ("BatchNorm1d", (5,), (4, 5, 3)),
        ("BatchNorm2d", (5,), (2, 5, 4, 3)),
        ("InstanceNorm2d", (5,), (2, 5, 4, 3)),
        ("LayerNorm", ((4, 3),), (2, 5, 4, 3)),
        ("GroupNorm", (1, 5), (2, 5, 4, 3)),
    ],
)
def test_impl_aten_equals_scratch(name, args, shape):
    kwargs = {"affine": True, "track_running_stats": True} if name == "InstanceNorm2d" else {}
    torch.manual_seed(0)
    scratch = getattr(norm, name)(*args, **kwargs)
    aten = getattr(norm, name)(*args, **kwargs, impl="aten")
    with torch.no_grad():
        for p in scratch.parameters():
            p.copy_(torch.randn_like(p))
    aten.load_state_dict(scratch.state_dict())
    _assert_same(scratch, aten, _batch(shape))
    scratch.eval(), aten.eval()
    _assert_same(scratch, aten, _batch(shape, 2))
    assert "impl='aten'" in repr(aten)


@pytest.mark.parametrize(
    ("name", "args", "kwargs"),
    [
        ("BatchNorm1d", (3,), {"momentum": None}),
        ("BatchNorm2d", (3,), {"bias": False}),
        ("InstanceNorm2d", (3,), {"affine": True, "track_running_stats": True}),
        ("InstanceNorm2d", (3,), {}),
        ("LayerNorm", ((3, 4),), {"bias": False}),
        ("GroupNorm", (1, 3), {"affine": False}),
    ],
)
def test_state_dict_and_repr_interchange_with_torch(name, args, kwargs):
    ours, ref = _pair(name, *args, **kwargs)
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert ours._version == getattr(ref, "_version", ours._version)
    fresh_ref = getattr(nn, name)(*args, **kwargs)
    fresh_ref.load_state_dict(ours.state_dict())
    for key, value in ref.state_dict().items():
        torch.testing.assert_close(fresh_ref.state_dict()[key], value)
    assert repr(ours).replace(", impl='scratch'", "") == repr(ref)
    ours.reset_parameters(), ref.reset_parameters()
    for key, value in ref.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[key], value)


def test_eval_without_running_stats_uses_batch_statistics():
    ours, ref = _pair("BatchNorm2d", 3, track_running_stats=False)
    ours.eval(), ref.eval()
    assert ours.running_mean is None and ours.num_batches_tracked is None
    _assert_same(ours, ref, _batch((2, 3, 4, 4)))


def test_unbatched_instancenorm_matches_batched():
    module = norm.InstanceNorm2d(3)
    x = _batch((3, 5, 4))
    torch.testing.assert_close(module(x), module(x.unsqueeze(0)).squeeze(0))


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: norm.BatchNorm2d(0), "num_features"),
        (lambda: norm.BatchNorm2d(3, eps=0.0), "eps"),
        (lambda: norm.BatchNorm1d(3, momentum=1.5), "momentum"),
        (lambda: norm.InstanceNorm2d(3, impl="cuda"), "impl"),
        (lambda: norm.LayerNorm(()), "normalized_shape"),
        (lambda: norm.LayerNorm((3, -1)), r"normalized_shape\[1\]"),
        (lambda: norm.GroupNorm(4, 6), "num_channels"),
        (lambda: norm.GroupNorm(0, 6), "num_groups"),
    ],
)
def test_bad_constructor_arguments_raise(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize(
    ("module", "shape", "match"),
    [
        (norm.BatchNorm2d(3), (2, 3, 4), "BatchNorm2d"),
        (norm.BatchNorm1d(3), (2, 3, 4, 4), "BatchNorm1d"),
        (norm.BatchNorm1d(3), (1, 3), "more than 1 value"),
        (norm.InstanceNorm2d(3), (2, 3, 1, 1), "more than 1 spatial"),
        (norm.InstanceNorm2d(3, affine=True), (2, 4, 5, 5), "InstanceNorm2d"),
        (norm.LayerNorm(5), (2, 4), "normalized_shape"),
        (norm.GroupNorm(2, 4), (2, 6, 3), "GroupNorm"),
    ],
)
def test_bad_inputs_raise(module, shape, match):
    with pytest.raises(ValueError, match=match):
        module(torch.randn(shape))
