"""State dicts (ours <-> ours, torch <-> ours), closures, param groups, mixed dtypes, errors."""

import copy

import pytest
import torch

from mri_recon.optim import SGD, Adam, AdamW, RMSprop
from tests.optim.lockstep import assert_same_params, batch, small_net, train

PAIRS = [
    (SGD, torch.optim.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    (RMSprop, torch.optim.RMSprop, {"lr": 1e-3, "momentum": 0.5, "centered": True}),
    (Adam, torch.optim.Adam, {"lr": 1e-3, "amsgrad": True}),
    (AdamW, torch.optim.AdamW, {"lr": 1e-3}),
]
IDS = [ours.__name__ for ours, _, _ in PAIRS]


def _continue_in_lockstep(net_a, opt_a, net_b, opt_b, start, steps=20):
    for step in range(start, start + steps):
        train(net_a, opt_a, step)
        train(net_b, opt_b, step)
    assert_same_params(net_a, net_b)


@pytest.mark.parametrize(("ours", "theirs", "kwargs"), PAIRS, ids=IDS)
def test_state_dict_round_trip(ours, theirs, kwargs):
    net_a = small_net()
    opt_a = ours(net_a.parameters(), **kwargs)
    for step in range(10):
        train(net_a, opt_a, step)
    saved = copy.deepcopy(opt_a.state_dict())
    net_b = copy.deepcopy(net_a)
    opt_b = ours(net_b.parameters(), **kwargs)
    opt_b.load_state_dict(saved)
    for key, value in opt_a.state[next(net_a.parameters())].items():
        assert key in opt_b.state[next(net_b.parameters())], key
        if key == "step":
            assert value.dtype == torch.float32 and value.dim() == 0
    _continue_in_lockstep(net_a, opt_a, net_b, opt_b, start=10)


@pytest.mark.parametrize(("ours", "theirs", "kwargs"), PAIRS, ids=IDS)
@pytest.mark.parametrize("direction", ["torch_to_ours", "ours_to_torch"])
def test_state_dict_crosses_to_and_from_torch(ours, theirs, kwargs, direction):
    first, second = (theirs, ours) if direction == "torch_to_ours" else (ours, theirs)
    net_a = small_net()
    opt_a = first(net_a.parameters(), **kwargs)
    for step in range(10):
        train(net_a, opt_a, step)
    saved = copy.deepcopy(opt_a.state_dict())
    net_b = copy.deepcopy(net_a)
    opt_b = second(net_b.parameters(), **kwargs)
    opt_b.load_state_dict(saved)
    state_a = opt_a.state_dict()["state"][0]
    assert set(opt_b.state_dict()["state"][0]) == set(state_a)
    for key, value in state_a.items():
        assert value.dtype == opt_b.state_dict()["state"][0][key].dtype, key
    _continue_in_lockstep(net_a, opt_a, net_b, opt_b, start=10)


@pytest.mark.parametrize(("ours", "theirs", "kwargs"), PAIRS, ids=IDS)
def test_fresh_state_matches_torch_layout(ours, theirs, kwargs):
    layouts = []
    for cls in (ours, theirs):
        net = small_net()
        opt = cls(net.parameters(), **kwargs)
        train(net, opt, 0)
        state = opt.state_dict()["state"]
        layouts.append(
            {i: {k: (v.dtype, tuple(v.shape)) for k, v in s.items()} for i, s in state.items()}
        )
    assert layouts[0] == layouts[1]


@pytest.mark.parametrize(("ours", "theirs", "kwargs"), PAIRS, ids=IDS)
def test_closure_is_evaluated_and_returned(ours, theirs, kwargs):
    nets = [small_net(), small_net()]
    opts = [ours(nets[0].parameters(), **kwargs), theirs(nets[1].parameters(), **kwargs)]
    x = torch.randn(2, 1, 16, 16)
    losses = [[], []]
    for _ in range(5):
        for k, (net, opt) in enumerate(zip(nets, opts)):

            def closure(net=net, opt=opt):
                opt.zero_grad()
                loss = net(x).square().mean()
                loss.backward()
                return loss

            losses[k].append(opt.step(closure).item())
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    assert losses[0][-1] < losses[0][0]
    assert_same_params(nets[0], nets[1])


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize(("ours", "theirs", "kwargs"), PAIRS, ids=IDS)
def test_param_groups_with_different_lr(ours, theirs, kwargs, foreach):
    nets, opts = [small_net(), small_net()], []
    for net, cls in zip(nets, (ours, theirs)):
        groups = [
            {"params": net[0].parameters(), "lr": kwargs["lr"] * 3},
            {"params": net[2].parameters()},
            {"params": net[4].parameters(), "lr": 0.0},
        ]
        opts.append(cls(groups, foreach=foreach, **kwargs))
    frozen = [p.detach().clone() for p in nets[0][4].parameters()]
    for step in range(20):
        train(nets[0], opts[0], step)
        train(nets[1], opts[1], step)
    assert_same_params(nets[0], nets[1])
    for p, p0 in zip(nets[0][4].parameters(), frozen):
        assert torch.equal(p.detach(), p0)


@pytest.mark.parametrize(("ours", "theirs", "kwargs"), PAIRS, ids=IDS)
def test_mixed_dtypes_and_missing_grads(ours, theirs, kwargs):
    """float32 and float64 params in one group (foreach splits them); a param without grad."""
    torch.manual_seed(0)
    values = [torch.randn(5), torch.randn(3, dtype=torch.float64), torch.randn(4), torch.randn(2)]
    results = []
    for cls, foreach in ((ours, True), (ours, False), (theirs, False)):
        params = [torch.nn.Parameter(v.clone()) for v in values]
        opt = cls(params, foreach=foreach, **kwargs)
        for step in range(5):
            for i, p in enumerate(params[:3]):
                p.grad = torch.sin(p.detach() * (step + i + 1))
            opt.step()
        assert len(opt.state[params[3]]) == 0
        results.append(params)
    for params in results[:2]:
        for p, q in zip(params, results[2]):
            torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    assert not torch.equal(results[0][0].detach(), values[0])


@pytest.mark.parametrize("cls", [SGD, RMSprop, Adam, AdamW])
def test_sparse_and_complex_are_rejected(cls):
    p = torch.nn.Parameter(torch.zeros(3))
    p.grad = torch.zeros(3).to_sparse()
    with pytest.raises(RuntimeError, match=f"{cls.__name__} does not support sparse"):
        cls([p]).step()
    z = torch.nn.Parameter(torch.zeros(3, dtype=torch.complex64))
    z.grad = torch.ones_like(z)
    with pytest.raises(RuntimeError, match="complex"):
        cls([z]).step()


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize(("ours", "theirs", "kwargs"), PAIRS, ids=IDS)
def test_step_leaves_gradients_untouched(ours, theirs, kwargs, foreach):
    net = small_net()
    opt = ours(net.parameters(), foreach=foreach, **kwargs)
    for step in range(3):
        opt.zero_grad()
        x, _ = batch(step)
        net(x).square().mean().backward()
        grads = [p.grad.clone() for p in net.parameters()]
        opt.step()
        for p, g in zip(net.parameters(), grads):
            assert torch.equal(p.grad, g)


@pytest.mark.parametrize(("ours", "theirs", "kwargs"), PAIRS[1:], ids=IDS[1:])
def test_plain_number_steps_become_tensors(ours, theirs, kwargs):
    """State dicts from old torch versions store ``step`` as a number."""
    net = small_net()
    opt = ours(net.parameters(), **kwargs)
    train(net, opt, 0)
    saved = opt.state_dict()
    for param_state in saved["state"].values():
        param_state["step"] = 1
    fresh = ours(net.parameters(), **kwargs)
    fresh.load_state_dict(saved)
    for param_state in fresh.state.values():
        assert torch.is_tensor(param_state["step"]) and param_state["step"].item() == 1.0
        assert param_state["step"].dtype == torch.float32
    train(net, fresh, 1)
