"""SGD against torch.optim.SGD, and PyTorch's momentum against Sutskever's."""

from functools import partial

import pytest
import torch

from mri_recon.optim import SGD
from tests.helpers import exhaustive
from tests.optim.lockstep import small_net, train

GRID = [
    {"lr": 0.05},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-2, "maximize": True},
    *exhaustive(
        {"lr": 0.05, "momentum": 0.9},
        {"lr": 0.05, "momentum": 0.9, "dampening": 0.5},
        {"lr": 0.05, "momentum": 0.9, "nesterov": True},
        {"lr": 0.05, "momentum": 0.8, "weight_decay": 1e-2},
        {"lr": 0.05, "weight_decay": 1e-2, "maximize": True},
    ),
]


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("kwargs", GRID, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_matches_torch(lockstep, kwargs, foreach):
    if kwargs.get("maximize"):
        # Maximizing the MSE diverges; a small lr keeps 100 steps finite.
        kwargs = {**kwargs, "lr": 1e-3}
    lockstep(SGD, torch.optim.SGD, foreach=foreach, **kwargs)


def test_defaults_match_torch():
    p = [torch.nn.Parameter(torch.zeros(2))]
    ours, theirs = SGD(p).defaults, torch.optim.SGD(p).defaults
    for key in ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize", "foreach"):
        assert ours[key] == theirs[key], key


def _run_styles(lrs, **kwargs):
    """Train one net per momentum style with the learning rate ``lrs[step]``; return both."""
    nets = {}
    for style in ("pytorch", "sutskever"):
        net = small_net()
        opt = SGD(net.parameters(), lr=lrs[0], momentum_style=style, **kwargs)
        for step, lr in enumerate(lrs):
            opt.param_groups[0]["lr"] = lr
            train(net, opt, step)
        nets[style] = (net, opt)
    return nets


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_styles_coincide_for_constant_lr(foreach, nesterov):
    nets = _run_styles([0.05] * 40, momentum=0.9, nesterov=nesterov, foreach=foreach)
    (net_pt, opt_pt), (net_sut, opt_sut) = nets["pytorch"], nets["sutskever"]
    for p_pt, p_sut in zip(net_pt.parameters(), net_sut.parameters(), strict=True):
        torch.testing.assert_close(p_sut, p_pt, rtol=1e-5, atol=1e-6)
        # Sutskever's velocity is PyTorch's times -lr.
        v_pt = opt_pt.state[p_pt]["momentum_buffer"]
        v_sut = opt_sut.state[p_sut]["momentum_buffer"]
        torch.testing.assert_close(v_sut, -0.05 * v_pt, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("foreach", [False, True])
def test_momentum_styles_differ_after_lr_change(foreach):
    """The step right after lr goes a -> b differs by (a - b) * mu * v_pt, as documented."""
    mu, a, b, steps = 0.9, 0.05, 0.005, 20
    nets = _run_styles([a] * steps, momentum=mu, foreach=foreach)
    (net_pt, opt_pt), (net_sut, opt_sut) = nets["pytorch"], nets["sutskever"]
    before = [p.detach().clone() for p in net_pt.parameters()]
    v_before = [opt_pt.state[p]["momentum_buffer"].clone() for p in net_pt.parameters()]
    # Same gradient for both: copy the params (equal up to rounding) and step once at lr = b.
    for p_pt, p_sut in zip(net_pt.parameters(), net_sut.parameters(), strict=True):
        p_sut.data.copy_(p_pt.data)
    for net, opt in ((net_pt, opt_pt), (net_sut, opt_sut)):
        opt.param_groups[0]["lr"] = b
        train(net, opt, steps)
    for p_pt, p_sut, p0, v in zip(
        net_pt.parameters(), net_sut.parameters(), before, v_before, strict=True
    ):
        step_pt, step_sut = p_pt.detach() - p0, p_sut.detach() - p0
        expected = (a - b) * mu * v
        assert expected.norm() > 1e-3 * step_pt.norm()
        torch.testing.assert_close(step_pt - step_sut, expected, rtol=1e-3, atol=1e-7)
        assert (step_pt - step_sut).norm() > 0.5 * expected.norm()


@pytest.mark.parametrize("foreach", [False, True])
def test_sutskever_with_dampening_matches_torch_for_constant_lr(lockstep, foreach):
    """With a constant lr, Sutskever's velocity is -lr times PyTorch's, dampening included."""
    sutskever = partial(SGD, momentum_style="sutskever")
    lockstep(sutskever, torch.optim.SGD, foreach=foreach, lr=0.05, momentum=0.9, dampening=0.5)


@pytest.mark.parametrize("foreach", [False, True])
def test_sutskever_follows_its_update_rule(foreach):
    """v_t = mu v_{t-1} - lr_t (1 - tau) g_t (v_1 = -lr_1 g_1), theta_t = theta_{t-1} + v_t."""
    mu, tau, lrs = 0.9, 0.3, [0.1, 0.1, 0.02, 0.05]
    gen = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(shape, generator=gen)) for shape in ((3,), (2, 2))]
    opt = SGD(params, momentum=mu, dampening=tau, momentum_style="sutskever", foreach=foreach)
    thetas, velocities = [p.detach().clone() for p in params], [None, None]
    for lr in lrs:
        opt.param_groups[0]["lr"] = lr
        for i, p in enumerate(params):
            p.grad = torch.randn(p.shape, generator=gen)
            v = velocities[i]
            velocities[i] = -lr * p.grad if v is None else mu * v - lr * (1 - tau) * p.grad
            thetas[i] = thetas[i] + velocities[i]
        opt.step()
        for p, theta, v in zip(params, thetas, velocities, strict=True):
            torch.testing.assert_close(p.detach(), theta)
            torch.testing.assert_close(opt.state[p]["momentum_buffer"], v)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lr": -0.1}, "lr"),
        ({"momentum": -0.5}, "momentum"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"lr": float("nan")}, "lr"),
        ({"nesterov": True}, "nesterov"),
        ({"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "nesterov"),
        ({"momentum_style": "heavy-ball"}, "momentum_style"),
    ],
)
def test_invalid_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SGD([torch.nn.Parameter(torch.zeros(2))], **kwargs)
