"""nn.conv_functional against torch.nn.functional: values, gradients, autocast, adjointness."""

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

import mri_recon.nn.conv_matrix as conv_matrix
from mri_recon.nn import conv_functional as ours
from mri_recon.nn import conv_shift, functional, norm_functional
from mri_recon.nn.conv_shapes import ConvGeometry

D = torch.float64

# (input shape, weight shape, bias, keyword arguments); odd sizes throughout.
CONV2D_CASES = [
    ((2, 3, 9, 7), (5, 3, 3, 3), True, {}),
    ((2, 3, 9, 7), (4, 3, 3, 3), False, {"padding": 1}),
    ((1, 4, 11, 8), (6, 4, 3, 2), True, {"stride": 2, "padding": (1, 0)}),
    ((2, 4, 10, 9), (6, 2, 3, 3), True, {"stride": (2, 3), "padding": 2, "groups": 2}),
    ((2, 4, 13, 11), (4, 4, 3, 3), False, {"dilation": (2, 3), "padding": (2, 1)}),
    ((1, 6, 9, 9), (6, 1, 3, 3), True, {"padding": 1, "groups": 6}),
    ((1, 6, 9, 9), (12, 1, 5, 3), False, {"padding": "same", "groups": 6}),
    ((2, 3, 8, 9), (5, 3, 4, 2), True, {"padding": "same", "dilation": (1, 3)}),
    ((2, 3, 8, 9), (5, 3, 4, 2), False, {"padding": "valid", "stride": 3}),
    ((3, 5, 7, 5), (2, 5, 1, 1), True, {}),
    ((1, 2, 5, 5), (3, 2, 5, 5), True, {"padding": 4, "dilation": 1}),
    ((2, 8, 7, 9), (4, 2, 3, 1), True, {"stride": (1, 2), "padding": (1, 0), "groups": 4}),
    ((1, 4, 6, 5), (3, 4, 3, 3), True, {"padding": 3}),
]
CONV1D_CASES = [
    ((2, 3, 17), (4, 3, 3), True, {}),
    ((2, 4, 16), (6, 2, 5), False, {"stride": 3, "padding": 2, "groups": 2}),
    ((1, 3, 15), (3, 1, 4), True, {"padding": "same", "dilation": 3, "groups": 3}),
    ((2, 3, 15), (5, 3, 2), True, {"padding": "valid", "dilation": (2,), "stride": (2,)}),
]
TRANSPOSE_CASES = [
    ((2, 4, 5, 7), (4, 3, 2, 2), True, {"stride": 2}),
    ((2, 4, 5, 7), (4, 3, 3, 3), False, {"stride": 1, "padding": 1}),
    (
        (1, 4, 5, 6),
        (4, 2, 3, 2),
        True,
        {"stride": (2, 3), "padding": (1, 0), "output_padding": (1, 2)},
    ),
    ((2, 4, 5, 7), (4, 3, 3, 2), True, {"stride": 2, "groups": 2, "dilation": (1, 2)}),
    ((1, 3, 6, 5), (3, 2, 3, 3), False, {"dilation": 2, "output_padding": 1}),
    ((2, 6, 4, 5), (6, 1, 3, 3), True, {"stride": 2, "padding": 1, "groups": 6}),
    ((1, 2, 3, 3), (2, 5, 4, 1), False, {"stride": 3, "padding": (2, 0), "output_padding": (2, 1)}),
]


def _compare(ours_fn, ref_fn, x_shape, w_shape, with_bias, kwargs, x_format=None, atol=1e-10):
    """Forward and the three gradients of ours_fn and ref_fn on the same float64 data."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(x_shape, dtype=D, generator=gen)
    if x_format is not None:
        x = x.contiguous(memory_format=x_format)
    w = torch.randn(w_shape, dtype=D, generator=gen)
    out_channels = (
        w_shape[1] * kwargs.get("groups", 1) if ref_fn is F.conv_transpose2d else w_shape[0]
    )
    b = torch.randn(out_channels, dtype=D, generator=gen) if with_bias else None
    results = []
    for fn in (ours_fn, ref_fn):
        leaves = [t.detach().clone().requires_grad_() if t is not None else None for t in (x, w, b)]
        y = fn(*leaves, **kwargs)
        y.backward(torch.linspace(-1, 1, y.numel(), dtype=D).reshape(y.shape))
        results.append([y] + [t.grad for t in leaves if t is not None])
    for got, want in zip(*results, strict=True):
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, atol=atol, rtol=1e-10)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("x_shape,w_shape,with_bias,kwargs", CONV2D_CASES)
def test_conv2d_matches_torch(conv_path, x_shape, w_shape, with_bias, kwargs):
    _compare(ours.conv2d, F.conv2d, x_shape, w_shape, with_bias, kwargs)


@pytest.mark.parametrize("x_shape,w_shape,with_bias,kwargs", CONV1D_CASES)
def test_conv1d_matches_torch(conv_path, x_shape, w_shape, with_bias, kwargs):
    _compare(ours.conv1d, F.conv1d, x_shape, w_shape, with_bias, kwargs)


@pytest.mark.parametrize("x_shape,w_shape,with_bias,kwargs", TRANSPOSE_CASES)
def test_conv_transpose2d_matches_torch(conv_path, x_shape, w_shape, with_bias, kwargs):
    _compare(ours.conv_transpose2d, F.conv_transpose2d, x_shape, w_shape, with_bias, kwargs)


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


@pytest.mark.parametrize(
    "x_shape,w_shape,kwargs",
    [(x, w, kw) for x, w, _, kw in CONV2D_CASES if not isinstance(kw.get("padding"), str)],
)
def test_conv_transpose2d_is_the_adjoint_of_conv2d(conv_path, x_shape, w_shape, kwargs):
    """<conv2d(x, W), y> = <x, conv_transpose2d(y, W)> for all x, y: the adjoint's definition."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(x_shape, dtype=D, generator=gen)
    w = torch.randn(w_shape, dtype=D, generator=gen)
    conv_x = ours.conv2d(x, w, **kwargs)
    y = torch.randn(conv_x.shape, dtype=D, generator=gen)
    stride, padding, dilation = (
        _pair(kwargs.get(name, default))
        for name, default in (("stride", 1), ("padding", 0), ("dilation", 1))
    )
    # conv2d maps several input sizes to one output size: output_padding picks x's.
    output_padding = tuple(
        size - ours.conv_transpose_output_size(*args)
        for size, *args in zip(
            x_shape[2:], conv_x.shape[2:], w_shape[2:], stride, padding, dilation, strict=True
        )
    )
    transpose_y = ours.conv_transpose2d(
        y, w, None, stride, padding, output_padding, kwargs.get("groups", 1), dilation
    )
    assert transpose_y.shape == x.shape
    torch.testing.assert_close(
        torch.vdot(conv_x.flatten(), y.flatten()),
        torch.vdot(x.flatten(), transpose_y.flatten()),
        rtol=1e-12,
        atol=0,
    )


def test_nn_functional_reexports_the_conv_and_norm_forms():
    for name in functional.__all__:
        home = ours if name in ours.__all__ else norm_functional
        assert getattr(functional, name) is getattr(home, name), name
    assert set(functional.__all__) >= set(ours.__all__)


@pytest.mark.parametrize(
    "fns,case",
    [((ours.conv2d, F.conv2d), case) for case in CONV2D_CASES[:6]]
    + [((ours.conv_transpose2d, F.conv_transpose2d), case) for case in TRANSPOSE_CASES[:3]],
)
@pytest.mark.parametrize("min_columns", [1, 13])
def test_row_blocks_give_the_same_result(conv_path, monkeypatch, fns, case, min_columns):
    # One output row per block, or blocks of 2-13 rows with a shorter last block: the blocks
    # share one column buffer, so a stale tail from a larger block must not leak into the next.
    # The shifted forward then runs one position per block.
    monkeypatch.setattr(conv_matrix, "BLOCK_BYTES_PER_THREAD", 1)
    monkeypatch.setattr(conv_matrix, "MIN_BLOCK_COLUMNS", min_columns)
    monkeypatch.setattr(conv_shift, "BLOCK_BYTES_PER_THREAD", 1)
    _compare(*fns, *case)


def test_gather_copies_into_the_buffer_only_when_needed():
    x = torch.arange(2 * 3 * 5 * 4, dtype=D).reshape(2, 3, 5, 4)
    buffer = torch.full((x.numel() + 7,), -1.0, dtype=D)
    moved = x.permute(1, 0, 3, 2)  # no strides address this as (3, 40): a copy is needed
    cols = conv_matrix.gather(moved, (3, -1), buffer)
    assert torch.equal(cols, moved.reshape(3, -1))
    assert cols.data_ptr() == buffer.data_ptr()
    assert torch.equal(buffer[x.numel() :], torch.full((7,), -1.0, dtype=D))
    rows = conv_matrix.gather(x, (6, -1), buffer)  # contiguous: a view of x, buffer untouched
    assert rows.data_ptr() == x.data_ptr() and torch.equal(rows, x.reshape(6, -1))
    assert torch.equal(conv_matrix.gather(moved, (3, -1)), moved.reshape(3, -1))


def _views_with_merges():
    """(view, shape) pairs: the products' window views in both layouts, and permuted, sliced and
    size-1 views of a small tensor, each with every way of merging its consecutive dims."""
    x = torch.zeros(2, 4, 6, 5)
    views = [x.permute(order) for order in itertools.permutations(range(4))]
    views += [x[:, :1], x[:, :, ::2], x[..., 1:4], x[:1, :, :1], x.transpose(0, 1)[:, :1]]
    for layout in (torch.contiguous_format, torch.channels_last):
        xl = x.contiguous(memory_format=layout)
        for kernel, stride, dilation, groups in [
            ((1, 1), (1, 1), (1, 1), 1),
            ((3, 3), (1, 1), (1, 1), 2),
            ((1, 1), (2, 2), (1, 1), 1),
            ((2, 3), (1, 2), (2, 1), 4),
        ]:
            geom = ConvGeometry(stride, (0, 0, 0, 0), dilation, groups)
            out_hw = conv_matrix.output_hw(x.shape[2:], kernel, geom)
            for rows in [(0, out_hw[0]), (1, out_hw[0])]:
                window = conv_matrix.windows(xl, kernel, out_hw, geom, rows)
                views += [window, window.permute(1, 2, 3, 4, 0, 5, 6)]
    for view in views:
        for cuts in itertools.product((False, True), repeat=view.dim() - 1):
            shape, run = [], view.shape[0]
            for size, cut in zip(view.shape[1:], cuts, strict=True):
                shape, run = (shape + [run], size) if cut else (shape, run * size)
            yield view, tuple(shape + [run])


def test_merges_without_copy_agrees_with_view():
    for view, shape in _views_with_merges():
        try:
            view.view(shape)
            viewed = True
        except RuntimeError:
            viewed = False
        assert conv_matrix.merges_without_copy(view, shape) == viewed, (view.shape, shape)
        assert conv_matrix.merges_without_copy(view, (-1, *shape[1:])) == viewed


def test_channels_last_and_strided_inputs(conv_path):
    _compare(
        ours.conv2d, F.conv2d, (2, 4, 9, 7), (3, 4, 3, 3), True, {"padding": 1}, torch.channels_last
    )
    _compare(ours.conv2d, F.conv2d, (2, 4, 9, 7), (6, 4, 1, 1), False, {}, torch.channels_last)
    _compare(
        ours.conv_transpose2d, F.conv_transpose2d, (2, 4, 5, 7), (4, 3, 2, 2), True, {"stride": 2},
        torch.channels_last,
    )  # fmt: skip
    x = torch.randn(2, 3, 10, 14, dtype=D)[..., ::2]
    w = torch.randn(4, 3, 3, 3, dtype=D)
    torch.testing.assert_close(ours.conv2d(x, w, padding=1), F.conv2d(x, w, padding=1))


@pytest.mark.parametrize(
    "requires", [(True, False, False), (False, True, False), (False, False, True)]
)
def test_only_requested_gradients(conv_path, requires):
    x, w, b = (
        torch.randn(2, 3, 7, 6, dtype=D),
        torch.randn(4, 3, 3, 3, dtype=D),
        torch.randn(4, dtype=D),
    )
    ours_leaves = [t.clone().requires_grad_(r) for t, r in zip((x, w, b), requires, strict=True)]
    ref_leaves = [t.clone().requires_grad_(r) for t, r in zip((x, w, b), requires, strict=True)]
    ours.conv2d(*ours_leaves, padding=1).square().sum().backward()
    F.conv2d(*ref_leaves, padding=1).square().sum().backward()
    for got, want, r in zip(ours_leaves, ref_leaves, requires, strict=True):
        assert (got.grad is None) == (not r)
        if r:
            torch.testing.assert_close(got.grad, want.grad)


def test_unbatched_inputs(conv_path):
    x, w = torch.randn(3, 8, 7, dtype=D), torch.randn(4, 3, 3, 3, dtype=D)
    torch.testing.assert_close(ours.conv2d(x, w, padding=1), F.conv2d(x, w, padding=1))
    wt = torch.randn(3, 2, 2, 2, dtype=D)
    torch.testing.assert_close(
        ours.conv_transpose2d(x, wt, stride=2), F.conv_transpose2d(x, wt, stride=2)
    )
    x1, w1 = torch.randn(3, 11, dtype=D), torch.randn(5, 3, 3, dtype=D)
    torch.testing.assert_close(ours.conv1d(x1, w1), F.conv1d(x1, w1))


@pytest.mark.parametrize(
    "fn,x_shape,w_shape,kwargs",
    [
        (ours.conv2d, (2, 4, 6, 5), (4, 2, 3, 2), {"stride": (2, 1), "padding": 1, "groups": 2}),
        (ours.conv2d, (1, 2, 5, 6), (3, 2, 3, 3), {"padding": "same", "dilation": 2}),
        (ours.conv2d, (1, 3, 5, 5), (2, 3, 3, 3), {"padding": 1}),
        (ours.conv1d, (2, 3, 9), (2, 3, 3), {"stride": 2, "padding": 1}),
        (
            ours.conv_transpose2d,
            (1, 4, 3, 4),
            (4, 1, 3, 2),
            {"stride": 2, "output_padding": 1, "groups": 2},
        ),
        (ours.conv_transpose2d, (2, 2, 3, 3), (2, 3, 2, 2), {"stride": 2}),
    ],
)
def test_gradcheck(conv_path, fn, x_shape, w_shape, kwargs):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(x_shape, dtype=D, generator=gen, requires_grad=True)
    w = torch.randn(w_shape, dtype=D, generator=gen, requires_grad=True)
    c_out = w_shape[1] * kwargs.get("groups", 1) if fn is ours.conv_transpose2d else w_shape[0]
    b = torch.randn(c_out, dtype=D, generator=gen, requires_grad=True)
    assert gradcheck(lambda x, w, b: fn(x, w, b, **kwargs), (x, w, b))


@pytest.mark.parametrize(
    "ours_fn,ref_fn,x_shape,w_shape,kwargs",
    [
        (ours.conv2d, F.conv2d, (2, 16, 20, 18), (24, 16, 3, 3), {"padding": 1}),
        (ours.conv2d, F.conv2d, (2, 32, 12, 12), (8, 32, 1, 1), {}),
        (ours.conv_transpose2d, F.conv_transpose2d, (2, 32, 9, 11), (32, 16, 2, 2), {"stride": 2}),
    ],
)
def test_bf16_autocast_close_to_torch(ours_fn, ref_fn, x_shape, w_shape, kwargs):
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(x_shape, generator=gen)
    w = torch.randn(w_shape, generator=gen) * 0.1
    c_out = w_shape[1] if ref_fn is F.conv_transpose2d else w_shape[0]
    b = torch.randn(c_out, generator=gen)
    results = []
    for fn in (ours_fn, ref_fn):
        leaves = [t.clone().requires_grad_() for t in (x, w, b)]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = fn(*leaves, **kwargs)
        (y.float() * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum().backward()
        results.append([y] + [t.grad for t in leaves])
    (y_ours, *grads_ours), (y_ref, *grads_ref) = results
    assert y_ours.dtype == y_ref.dtype == torch.bfloat16
    torch.testing.assert_close(y_ours.float(), y_ref.float(), atol=0.05, rtol=0.02)
    for got, want in zip(grads_ours, grads_ref, strict=True):
        assert got.dtype == want.dtype == torch.float32
        scale = want.abs().max().item()
        torch.testing.assert_close(got, want, atol=0.02 * scale, rtol=0.02)


def test_float64_is_left_alone_by_autocast():
    x, w = torch.randn(1, 2, 5, 5, dtype=D), torch.randn(3, 2, 3, 3, dtype=D)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, ref = ours.conv2d(x, w), F.conv2d(x, w)
    assert y.dtype == ref.dtype == D
    torch.testing.assert_close(y, ref)
