"""The loss line's readings: a minimum at an end of the range is no minimum, the vertex of a
parabola is found exactly, and the return to the start's loss is interpolated, never
extrapolated."""

import pytest

from mri_recon.studies.landscape import _crossing, _vertex

LRS = [(-1 + 4 * i / 16) for i in range(17)]  # -1 .. 3 in units of 1/c, through 0


def test_a_parabola_is_read_exactly():
    losses = [lr**2 / 2 - 1.3 * lr for lr in LRS]  # minimum at 1.3, back at 0 at 2.6
    best = min(range(len(LRS)), key=losses.__getitem__)
    assert _vertex(LRS, losses, best) == pytest.approx(1.3)
    assert _crossing(LRS, losses, 0.0, best) == pytest.approx(2.6, rel=0.02)


def test_a_loss_still_falling_at_the_end_has_no_minimum_in_the_range():
    losses = [-lr for lr in LRS]
    best = min(range(len(LRS)), key=losses.__getitem__)
    assert best == len(LRS) - 1
    assert _vertex(LRS, losses, best) is None and _crossing(LRS, losses, 0.0, best) is None


def test_the_crossing_is_never_extrapolated():
    """A lowest loss on the uphill side (negative step sizes) and every positive step above the
    start's loss: no step goes below the start and comes back, so there is no crossing; neither
    the start itself (lr 0, at the level) nor a point interpolated from one above the level
    counts (either bug reads 0 here)."""
    losses = [abs(lr + 0.5) - 0.5 + (0.2 if lr > 0 else 0.0) for lr in LRS]
    best = min(range(len(LRS)), key=losses.__getitem__)
    assert LRS[best] < 0 and _crossing(LRS, losses, 0.0, best) is None
