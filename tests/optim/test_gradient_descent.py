"""Full-batch gradient descent on a convex quadratic: the step-size limit lr < 2/L."""

import pytest
import torch

from mri_recon.optim import SGD


def _quadratic(dim: int = 10, smallest: float = 0.5, largest: float = 4.0):
    """f(x) = x^T A x / 2 - b^T x with eigenvalues of A spread over [smallest, largest]."""
    gen = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=gen, dtype=torch.float64))
    eigenvalues = torch.linspace(smallest, largest, dim, dtype=torch.float64)
    a = q @ torch.diag(eigenvalues) @ q.T
    b = torch.randn(dim, generator=gen, dtype=torch.float64)
    return a, b, torch.linalg.solve(a, b), largest


def _descend(lr_times_l: float, foreach: bool, steps: int = 300) -> list[float]:
    """Distances to the minimizer during gradient descent with lr = lr_times_l / L."""
    a, b, x_star, lipschitz = _quadratic()
    x = torch.nn.Parameter(torch.zeros_like(b))
    opt = SGD([x], lr=lr_times_l / lipschitz, foreach=foreach)

    def closure():
        opt.zero_grad()
        loss = 0.5 * x @ a @ x - b @ x
        loss.backward()
        return loss

    distances = []
    for _ in range(steps):
        opt.step(closure)
        distances.append((x.detach() - x_star).norm().item())
    return distances


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("lr_times_l", [0.5, 1.0, 1.9])
def test_converges_below_two_over_l(lr_times_l, foreach):
    distances = _descend(lr_times_l, foreach)
    assert distances[-1] < 1e-8 * distances[0]


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("lr_times_l", [2.1, 3.0])
def test_diverges_above_two_over_l(lr_times_l, foreach):
    distances = _descend(lr_times_l, foreach, steps=100)
    # The error along the top eigenvector grows by |1 - lr * L| > 1 per step.
    assert distances[-1] > 1e3 * distances[0]
    assert distances[-1] > distances[-2] > distances[-3]


def test_rate_matches_theory():
    """Below the limit the error shrinks by max(|1 - lr mu|, |1 - lr L|) per step."""
    lr_times_l, smallest, largest = 1.9, 0.5, 4.0
    distances = _descend(lr_times_l, foreach=True, steps=200)
    lr = lr_times_l / largest
    rate = max(abs(1 - lr * smallest), abs(1 - lr * largest))
    observed = (distances[150] / distances[100]) ** (1 / 50)
    assert observed == pytest.approx(rate, rel=1e-3)
