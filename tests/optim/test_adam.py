"""Adam and AdamW against torch.optim.Adam and torch.optim.AdamW."""

import pytest
import torch

from mri_recon.optim import Adam, AdamW
from tests.helpers import exhaustive

GRID = [
    {"lr": 1e-3},
    {"lr": 1e-3, "weight_decay": 0.1, "amsgrad": True, "maximize": True},
    *exhaustive(
        {"lr": 1e-3, "betas": (0.8, 0.99), "eps": 1e-6},
        {"lr": 1e-3, "amsgrad": True},
        {"lr": 1e-3, "weight_decay": 0.1},
        {"lr": 1e-3, "maximize": True},
    ),
]


def _ids(kw):
    return ",".join(f"{k}={v}" for k, v in kw.items())


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("kwargs", GRID, ids=_ids)
def test_adam_matches_torch(lockstep, kwargs, foreach):
    lockstep(Adam, torch.optim.Adam, foreach=foreach, **kwargs)


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("kwargs", GRID, ids=_ids)
def test_adamw_matches_torch(lockstep, kwargs, foreach):
    lockstep(AdamW, torch.optim.AdamW, foreach=foreach, **kwargs)


@pytest.mark.parametrize(("ours", "theirs"), [(Adam, torch.optim.Adam), (AdamW, torch.optim.AdamW)])
def test_defaults_match_torch(ours, theirs):
    p = [torch.nn.Parameter(torch.zeros(2))]
    a, b = ours(p).defaults, theirs(p).defaults
    for key in ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "foreach"):
        assert a[key] == b[key], key
    assert AdamW(p).defaults["weight_decay"] == 1e-2


def test_first_step_is_lr_times_sign():
    """Bias correction makes the first step -lr * g / (|g| + eps): about lr per coordinate."""
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    p.grad = torch.tensor([1e-3, 1.0, -5.0], dtype=torch.float64)
    Adam([p], lr=0.1, eps=0.0).step()
    torch.testing.assert_close(p.detach(), torch.tensor([-0.1, -0.1, 0.1], dtype=torch.float64))


def test_adamw_decay_is_decoupled():
    """With a zero gradient, AdamW shrinks by (1 - lr * wd) while Adam's L2 term is normalized."""
    p_w = torch.nn.Parameter(torch.full((2,), 2.0, dtype=torch.float64))
    p_a = torch.nn.Parameter(torch.full((2,), 2.0, dtype=torch.float64))
    p_w.grad, p_a.grad = torch.zeros_like(p_w), torch.zeros_like(p_a)
    AdamW([p_w], lr=0.1, weight_decay=0.5).step()
    Adam([p_a], lr=0.1, weight_decay=0.5).step()
    torch.testing.assert_close(
        p_w.detach(), torch.full((2,), 2.0 * (1 - 0.05), dtype=torch.float64)
    )
    # Adam turns the decay into a gradient, whose first normalized step has size lr.
    torch.testing.assert_close(p_a.detach(), torch.full((2,), 2.0 - 0.1, dtype=torch.float64))


@pytest.mark.parametrize("cls", [Adam, AdamW])
@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lr": -1e-3}, "lr"),
        ({"eps": -1e-8}, "eps"),
        ({"betas": (1.0, 0.999)}, r"betas\[0\]"),
        ({"betas": (-0.1, 0.999)}, r"betas\[0\]"),
        ({"betas": (0.9, 1.5)}, r"betas\[1\]"),
        ({"weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_invalid_arguments(cls, kwargs, name):
    with pytest.raises(ValueError, match=name):
        cls([torch.nn.Parameter(torch.zeros(2))], **kwargs)
