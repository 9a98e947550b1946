"""Fixtures of the layer tests."""

import pytest

from mri_recon.nn import conv_shift


@pytest.fixture(params=["im2col", "shift"])
def conv_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test once on the im2col products alone and once with the shifted ones wherever
    they apply: conv_shift's size rules (chosen for speed) would leave the tests' small shapes
    on im2col."""
    if request.param == "shift":

        def any_size(weight_shape, geom, dtype, _input_shape) -> bool:
            return conv_shift.shiftable(weight_shape, geom, dtype)

        monkeypatch.setattr(conv_shift, "suits_forward", any_size)
        monkeypatch.setattr(conv_shift, "suits_weight_grad", conv_shift.shiftable)
    else:
        monkeypatch.setattr(conv_shift, "shiftable", lambda *_: False)
    return request.param
