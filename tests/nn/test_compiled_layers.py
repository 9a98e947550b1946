"""The from-scratch layers under ``torch.compile``: one graph for a whole scratch U-Net and
VarNet (``torch._dynamo.explain`` counts no break), each convolution product one operator of it
(checked by ``torch.library.opcheck`` and in the traced graphs), and the traced outputs and
gradients equal to the eager ones (``aot_eager`` runs the graph dynamo and AOTAutograd made,
without inductor's code generation)."""

import pytest
import torch
from functorch.compile import make_boxed_func
from torch import nn
from torch._dynamo.backends.common import aot_autograd

import mri_recon.nn.conv_matrix as conv_matrix
from mri_recon.models import Unet, VarNet
from mri_recon.models.unet import ConvBlock, TransposeConvBlock
from mri_recon.nn import Conv2d, ConvTranspose2d
from mri_recon.nn.conv_shapes import ConvGeometry
from tests.helpers import assert_step_equals_eager

SCRATCH = {"conv_impl": "scratch", "norm_impl": "scratch"}


@pytest.fixture(autouse=True)
def small_row_blocks(monkeypatch: pytest.MonkeyPatch):
    """Three row blocks in the top level's convolutions: the operators run the blocked paths."""
    monkeypatch.setattr(conv_matrix, "BLOCK_BYTES_PER_THREAD", 1)
    monkeypatch.setattr(conv_matrix, "MIN_BLOCK_COLUMNS", 256)
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _varnet_inputs(width: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    kspace = torch.randn(1, 3, 32, width, 2)
    mask = torch.zeros(1, 1, 1, width, 1, dtype=torch.bool)
    mask[..., ::2, :] = True
    mask[..., width // 2 - 2 : width // 2 + 2, :] = True
    return kspace * mask, mask


def _varnet() -> VarNet:
    return VarNet(num_cascades=1, sens_chans=4, sens_pools=2, chans=4, pools=2, **SCRATCH)


def _one_graph(module: nn.Module, *inputs: torch.Tensor) -> None:
    explained = torch._dynamo.explain(module)(*inputs)
    assert explained.graph_break_count == 0, [b.reason for b in explained.break_reasons]
    assert explained.graph_count == 1


def test_the_scratch_unet_blocks_are_one_graph_each() -> None:
    """The fast lane's check; the whole networks below run in ``make test``."""
    layers = {"norm": "group", "num_groups": 2, **SCRATCH}
    _one_graph(ConvBlock(1, 4, 0.1, **layers).train(), torch.randn(2, 1, 32, 24))
    _one_graph(TransposeConvBlock(4, 2, **layers).train(), torch.randn(2, 4, 8, 6))


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"norm": "instance"}, id="instance", marks=pytest.mark.slow),
        pytest.param(
            {"norm": "batch", "channels_last": True},
            id="batch-channels_last",
            marks=pytest.mark.slow,
        ),
        pytest.param({"norm": "layer"}, id="layer", marks=pytest.mark.slow),
    ],
)
def test_a_scratch_unet_is_one_graph(options: dict) -> None:
    _one_graph(Unet(1, 1, chans=4, num_pool_layers=2, **SCRATCH, **options).train(),
               torch.randn(2, 1, 32, 24))  # fmt: skip


@pytest.mark.slow
def test_a_scratch_varnet_is_one_graph() -> None:
    _one_graph(_varnet().train(), *_varnet_inputs())


@pytest.mark.parametrize(
    "geometry",
    [
        {"stride": [1, 1], "padding": [1, 1, 1, 1], "dilation": [1, 1], "groups": 1},
        {"stride": [2, 1], "padding": [0, 1, 2, 0], "dilation": [1, 2], "groups": 2},
    ],
    ids=["3x3-same", "strided-dilated-grouped"],
)
def test_each_product_is_an_operator_whose_fake_matches_it(geometry: dict) -> None:
    """Schema, fake (shape and strides without computing) and AOTAutograd with dynamic shapes."""
    x, weight = torch.randn(2, 4, 11, 9), torch.randn(6, 4 // geometry["groups"], 3, 3)
    geom = [geometry[k] for k in ("stride", "padding", "dilation", "groups")]
    out_hw = list(conv_matrix.output_hw((11, 9), (3, 3), ConvGeometry(*map(_tuple, geom))))
    grad_out = torch.randn(2, 6, *out_hw)
    ops = torch.ops.mri_recon
    torch.library.opcheck(ops.conv2d, (x, weight, out_hw, *geom))
    torch.library.opcheck(ops.conv2d_input_grad, (grad_out, weight, [11, 9], *geom))
    torch.library.opcheck(ops.conv2d_weight_grad, (x, grad_out, [3, 3], *geom))


def _tuple(value: list[int] | int) -> tuple[int, ...] | int:
    return tuple(value) if isinstance(value, list) else value


def _traced_calls(net: nn.Module, *inputs: torch.Tensor) -> list[str]:
    """The functions called by the forward and backward graphs that AOTAutograd traces."""
    calls: list[str] = []

    def collect(graph: torch.fx.GraphModule, _inputs):
        calls.extend(str(node.target) for node in graph.graph.nodes if node.op == "call_function")
        return make_boxed_func(graph.forward)

    backend = aot_autograd(fw_compiler=collect, bw_compiler=collect)
    torch.compile(net, backend=backend, fullgraph=True)(*inputs).sum().backward()
    return calls


def test_a_traced_block_holds_each_convolution_product_as_one_operator() -> None:
    """A conv block and a transposed conv block: forward, input and weight gradients appear as
    this package's operators, and none of the products' matmuls or copies is traced."""
    for block, image in (
        (ConvBlock(2, 4, 0.0, "instance", 1, "scratch", "scratch"), torch.randn(2, 2, 16, 12)),
        (TransposeConvBlock(4, 2, "instance", 1, "scratch", "scratch"), torch.randn(2, 4, 8, 6)),
    ):
        convs = sum(isinstance(m, (Conv2d, ConvTranspose2d)) for m in block.modules())
        calls = _traced_calls(block.train(), image.requires_grad_())
        for op in ("conv2d", "conv2d_input_grad", "conv2d_weight_grad"):
            assert calls.count(f"mri_recon.{op}.default") == convs, (op, calls)
        assert not [c for c in calls if "mm" in c or "unfold" in c], calls


def _traced_equals_eager(net: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
    """Forward and backward of ``net`` traced by ``aot_eager`` (no graph break allowed)."""
    assert_step_equals_eager(net, inputs, torch.compile(net, backend="aot_eager", fullgraph=True))


@pytest.mark.slow
def test_a_traced_scratch_unet_computes_the_eager_gradients() -> None:
    torch.manual_seed(0)
    net = Unet(1, 2, chans=4, num_pool_layers=2, norm="batch", **SCRATCH).train()
    _traced_equals_eager(net, (torch.randn(2, 1, 32, 24),))
    torch.testing.assert_close(net.down_sample_layers[0].layers[1].num_batches_tracked,
                               torch.tensor(2))  # fmt: skip


@pytest.mark.slow
def test_a_traced_scratch_varnet_computes_the_eager_gradients() -> None:
    torch.manual_seed(0)
    _traced_equals_eager(_varnet().train(), _varnet_inputs())
