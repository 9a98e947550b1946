"""Shared fixtures for the optimizer tests: a small conv net trained in lockstep with torch."""

from collections.abc import Callable
from typing import Any

import pytest

from tests.optim.lockstep import assert_same_params, relative_error, small_net, train


@pytest.fixture
def lockstep() -> Callable[..., None]:
    """Train two identical nets, one with ``ours``, one with ``theirs``; compare parameters."""

    def run(ours: type, theirs: type, steps: int = 100, **kwargs: Any) -> None:
        net_a, net_b = small_net(), small_net()
        opt_a = ours(net_a.parameters(), **kwargs)
        opt_b = theirs(net_b.parameters(), **kwargs)
        start = [p.detach().clone() for p in net_a.parameters()]
        for step in range(steps):
            train(net_a, opt_a, step)
            train(net_b, opt_b, step)
        assert_same_params(net_a, net_b)
        moved = sum(relative_error(p.detach(), s) for p, s in zip(net_a.parameters(), start))
        assert moved > 1e-3, "the parameters did not move: the comparison would be vacuous"

    return run


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every optimizer test runs on one thread (``one_thread`` in tests/conftest.py)."""
