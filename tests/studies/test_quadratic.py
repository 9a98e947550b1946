"""The step-size study's theory, asserted: gradient descent's thresholds 1/L and 2/L, the two
momentum rules of ``mri_recon.optim.SGD``, and the rates theory gives on a quadratic."""

import pytest
import torch

from mri_recon.studies.step_size import (
    best_setting,
    descend,
    descend_grid,
    make_quadratic,
    measured_rate,
    momentum_step_gap,
    observed_regime,
    theory_setting,
)

PROBLEM = make_quadratic(condition=100.0, dim=20, seed=3)
L = PROBLEM.largest


def test_thresholds_come_from_the_hessian():
    eigenvalues = torch.linalg.eigvalsh(PROBLEM.hessian)
    assert L == pytest.approx(float(eigenvalues.max()), rel=1e-12)
    assert L / PROBLEM.smallest == pytest.approx(100.0, rel=1e-9)


@pytest.mark.parametrize("margin", [1e-3, 1e-2])
def test_diverges_exactly_above_two_over_l(margin):
    above = descend(PROBLEM, 300, 2 / L * (1 + margin))
    below = descend(PROBLEM, 300, 2 / L * (1 - margin))
    assert observed_regime(PROBLEM, above) == "diverging"
    assert observed_regime(PROBLEM, below) == "oscillating"
    f_above, f_below = PROBLEM.value(above), PROBLEM.value(below)
    assert f_above[-1] > f_above[-2] > f_above[-3]  # growing at the end
    assert bool((f_below[1:] <= f_below[:-1]).all())  # decreasing at every step
    top = PROBLEM.eigenvectors[:, -1]
    # The top coordinate is multiplied by 1 - lr L per step, below -1 only above 2/L.
    ratio = (above[-1] @ top) / (above[-2] @ top)
    assert float(ratio) == pytest.approx(1 - 2 * (1 + margin), rel=1e-6)


def test_monotone_decrease_at_one_over_l():
    iterates = descend(PROBLEM, 200, 1 / L)
    values = PROBLEM.value(iterates)
    assert bool((values[1:] <= values[:-1]).all())
    assert observed_regime(PROBLEM, iterates) == "monotone"
    # At exactly 1/L the top coordinate is removed in one step.
    top = PROBLEM.eigenvectors[:, -1]
    assert abs(float(iterates[1] @ top)) < 1e-12 * abs(float(iterates[0] @ top))


def test_overshoots_between_one_and_two_over_l():
    iterates = descend(PROBLEM, 50, 1.5 / L)
    top = iterates @ PROBLEM.eigenvectors[:, -1]
    assert bool((top[1:] * top[:-1] < 0)[:10].all())  # the sign flips every step
    assert observed_regime(PROBLEM, iterates) == "oscillating"


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_rules_agree_at_a_constant_lr(nesterov):
    runs = [
        descend(PROBLEM, 100, 0.5 / L, momentum=0.9, nesterov=nesterov, momentum_style=style)
        for style in ("pytorch", "sutskever")
    ]
    assert torch.allclose(runs[0], runs[1], rtol=0, atol=1e-12)


def test_momentum_rules_differ_as_theory_says_after_an_lr_change():
    lr, momentum, at = 0.5 / L, 0.9, 20

    def drop(step):
        return 0.1 if step >= at else 1.0

    runs = [
        descend(PROBLEM, 60, lr, drop, momentum=momentum, momentum_style=style)
        for style in ("pytorch", "sutskever")
    ]
    assert torch.allclose(runs[0][: at + 1], runs[1][: at + 1], rtol=0, atol=1e-12)
    measured, error = momentum_step_gap(runs[0], runs[1], (lr, 0.1 * lr), momentum, at)
    assert measured > 1e-3 and error < 1e-10 * measured


def test_an_lr_of_zero_stops_pytorchs_rule_while_sutskevers_coasts():
    lr, momentum, at = 0.5 / L, 0.9, 10

    def stop(step):
        return 0.0 if step >= at else 1.0

    pytorch, sutskever = (
        descend(PROBLEM, 400, lr, stop, momentum=momentum, momentum_style=style)
        for style in ("pytorch", "sutskever")
    )
    assert torch.equal(pytorch[at], pytorch[-1])  # the step is lr * v: nothing moves
    # Sutskever's velocity keeps its old steps and decays: it travels mu / (1 - mu) of the last.
    last_step = sutskever[at] - sutskever[at - 1]
    expected = sutskever[at] + momentum / (1 - momentum) * last_step
    assert torch.allclose(sutskever[-1], expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("condition", [10.0, 100.0])
def test_rates_match_theory(condition):
    problem = make_quadratic(condition, dim=20, seed=1)
    big, small = problem.largest, problem.smallest
    gd = theory_setting("gd", big, small)
    lrs = [ratio / big for ratio in torch.logspace(-1, 0.4, 30).tolist()]
    found = best_setting(problem, 300, lrs, [0.0], zoom=9)
    assert found.rate == pytest.approx(gd.rate, rel=5e-3)
    assert found.lr == pytest.approx(gd.lr, rel=0.1)
    for method, options in (("momentum", {}), ("nesterov", {"nesterov": True})):
        theory = theory_setting(method, big, small)
        norms, _ = descend_grid(problem, 400, [theory.lr], [theory.momentum], **options)
        # A repeated root of the iteration adds a factor t: the rate is approached from above.
        assert float(measured_rate(norms)) == pytest.approx(theory.rate, rel=0.02)
    assert theory_setting("momentum", big, small).rate < gd.rate


def test_grid_rows_equal_single_runs():
    """The grid's scaling trick (a step of lr on f is a step of 1 on lr * f) changes nothing."""
    lrs, momenta = [0.3 / L, 1.2 / L], [0.5, 0.9]
    norms, values = descend_grid(PROBLEM, 50, lrs, momenta, nesterov=True)
    for m, momentum in enumerate(momenta):
        for i, lr in enumerate(lrs):
            single = descend(PROBLEM, 50, lr, momentum=momentum, nesterov=True)
            assert torch.allclose(norms[:, m, i], single.norm(dim=-1), rtol=1e-9, atol=0)
            assert torch.allclose(values[:, m, i], PROBLEM.value(single), rtol=1e-9, atol=0)
