"""Fixtures of the layer tests."""

import pytest

from mri_recon.nn import conv_shift


@pytest.fixture(params=["im2col", "shift"])
def conv_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test once on im2col alone and once shifted wherever stride and groups allow:
    conv_shift's size rule (chosen for speed) would leave the tests' small shapes on im2col."""
    shift = request.param == "shift"
    monkeypatch.setattr(conv_shift, "MIN_IN_CHANNELS", 1 if shift else 2**62)
    monkeypatch.setattr(conv_shift, "MIN_GRID_POSITIONS", 0)
    return request.param
