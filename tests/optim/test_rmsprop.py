"""RMSprop against torch.optim.RMSprop."""

import pytest
import torch

from mri_recon.optim import RMSprop
from tests.helpers import exhaustive

GRID = [
    {"lr": 1e-3},
    {"lr": 1e-4, "momentum": 0.9, "centered": True, "maximize": True},
    *exhaustive(
        {"lr": 1e-3, "alpha": 0.9, "eps": 1e-6},
        {"lr": 1e-3, "momentum": 0.9},
        {"lr": 1e-3, "centered": True},
        {"lr": 1e-3, "centered": True, "momentum": 0.5, "weight_decay": 1e-2},
        {"lr": 1e-4, "weight_decay": 1e-2, "maximize": True},
    ),
]


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("kwargs", GRID, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_matches_torch(lockstep, kwargs, foreach):
    lockstep(RMSprop, torch.optim.RMSprop, foreach=foreach, **kwargs)


def test_defaults_match_torch():
    p = [torch.nn.Parameter(torch.zeros(2))]
    ours, theirs = RMSprop(p).defaults, torch.optim.RMSprop(p).defaults
    for key in ("lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize"):
        assert ours[key] == theirs[key], key


def test_eps_is_added_after_the_square_root():
    """One step from zero state: v = (1 - alpha) g^2, step = lr * g / (sqrt(v) + eps)."""
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    p.grad = torch.tensor([1e-3, 1.0, -2.0], dtype=torch.float64)
    lr, alpha, eps = 0.1, 0.9, 1e-2
    RMSprop([p], lr=lr, alpha=alpha, eps=eps).step()
    expected = -lr * p.grad / (((1 - alpha) * p.grad**2).sqrt() + eps)
    torch.testing.assert_close(p.detach(), expected)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lr": -1e-3}, "lr"),
        ({"alpha": -0.1}, "alpha"),
        ({"eps": -1e-8}, "eps"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"momentum": -0.9}, "momentum"),
    ],
)
def test_invalid_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        RMSprop([torch.nn.Parameter(torch.zeros(2))], **kwargs)
