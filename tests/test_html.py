"""The HTML report's plot axes (``mri_recon.html.nice_ticks``); the page itself is checked in a
browser by ``test_html_report.py``."""

import pytest

from mri_recon.html import nice_ticks


@pytest.mark.parametrize(
    ("low", "high", "ticks", "decimals"),
    [
        (0.117, 0.571, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], 1),
        (13.54, 19.73, [12.0, 14.0, 16.0, 18.0, 20.0], 0),
        (0.9, 0.95, [0.9, 0.91, 0.92, 0.93, 0.94, 0.95], 2),
        (0.5, 0.5, [0.46, 0.48, 0.5, 0.52, 0.54], 2),
        (0.0, 0.0, [-0.5, 0.0, 0.5], 1),
    ],
)
def test_ticks_are_round_and_cover_the_values(low, high, ticks, decimals) -> None:
    assert nice_ticks(low, high) == (ticks, decimals)
