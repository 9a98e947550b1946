"""Helpers for the optimizer tests: a small conv net trained in lockstep with torch."""

import torch
from torch import Tensor, nn


def small_net(seed: int = 0) -> nn.Module:
    """Three conv layers on 1-channel 16x16 images, with a deterministic init."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.Tanh(),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.Tanh(),
        nn.Conv2d(4, 1, 3, padding=1),
    )


def batch(step: int) -> tuple[Tensor, Tensor]:
    """A random batch of inputs and targets, the same for every call with the same step."""
    gen = torch.Generator().manual_seed(1000 + step)
    x = torch.randn(4, 1, 16, 16, generator=gen)
    return x, x.roll(1, dims=-1) * 0.5


def relative_error(a: Tensor, b: Tensor) -> float:
    """||a - b|| / ||b|| (0 when both are zero)."""
    scale = b.norm().item()
    diff = (a - b).norm().item()
    return diff / scale if scale > 0 else diff


def train(net: nn.Module, opt: torch.optim.Optimizer, step: int) -> float:
    """One training step on ``batch(step)``; returns the loss."""
    x, y = batch(step)
    opt.zero_grad()
    loss = nn.functional.mse_loss(net(x), y)
    loss.backward()
    opt.step()
    return loss.item()


def assert_same_params(a: nn.Module, b: nn.Module, rtol: float = 1e-6) -> None:
    """Every parameter of ``a`` equals the one of ``b`` to ``rtol`` relative (in norm)."""
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        err = relative_error(pa.detach(), pb.detach())
        assert err <= rtol, f"{name}: relative error {err:.2e}"
