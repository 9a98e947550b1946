"""The VarNet cascade's operators by the identities that define them, and gradcheck in float64."""

import fastmri
import torch
from fastmri.models.varnet import SensitivityModel as FastMriSensitivityModel
from torch.autograd import gradcheck

from mri_recon.models.norm_unet import NormUnet
from mri_recon.models.sensitivity import count_low_frequencies
from mri_recon.models.varnet import VarNetBlock, sens_expand, sens_reduce

COILS, HEIGHT, WIDTH = 3, 6, 5


def _complex(*shape: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, 2, dtype=torch.float64, generator=generator)


def _maps(seed: int) -> torch.Tensor:
    """Sensitivity maps normalised as the sensitivity network makes them (unit RSS over coils)."""
    maps = _complex(1, COILS, HEIGHT, WIDTH, seed=seed)
    return maps / fastmri.rss_complex(maps, dim=1)[:, None, :, :, None]


def _mask() -> torch.Tensor:
    mask = torch.zeros(1, 1, 1, WIDTH, 1, dtype=torch.bool)
    mask[..., [0, 2, 3], :] = True
    return mask


def _inner(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The complex inner product <a, b> = sum(a * conj(b)), as a (real, imaginary) pair."""
    return fastmri.complex_mul(a, fastmri.complex_conj(b)).reshape(-1, 2).sum(0)


def test_sens_reduce_is_the_adjoint_of_sens_expand():
    """<E x, y> = <x, E^H y> for E = F S (deepinv's adjointness test)."""
    maps = _maps(0)
    image = _complex(1, 1, HEIGHT, WIDTH, seed=1)
    kspace = _complex(1, COILS, HEIGHT, WIDTH, seed=2)
    left = _inner(sens_expand(image, maps), kspace)
    right = _inner(image, sens_reduce(kspace, maps))
    torch.testing.assert_close(left, right, atol=1e-12, rtol=1e-12)


def test_sens_reduce_inverts_sens_expand_for_unit_rss_maps():
    """S^H S = I when the maps have unit root sum of squares, and F is unitary (ortho FFT)."""
    maps = _maps(0)
    image = _complex(1, 1, HEIGHT, WIDTH, seed=1)
    torch.testing.assert_close(sens_reduce(sens_expand(image, maps), maps), image)


class _Zero(torch.nn.Module):
    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(image)


def test_data_consistency_alone_moves_sampled_lines_towards_the_measurement():
    """With a zero regulariser the cascade is k - w M (k - k0): sampled lines move a fraction w
    of the way to the measured ones, unsampled lines stay."""
    block = VarNetBlock(_Zero()).double()
    with torch.no_grad():
        block.dc_weight.fill_(0.25)
    current = _complex(1, COILS, HEIGHT, WIDTH, seed=3)
    measured = _complex(1, COILS, HEIGHT, WIDTH, seed=4) * _mask()
    output = block(current, measured, _mask(), _maps(0))
    mask = _mask().expand_as(current)
    torch.testing.assert_close(output[mask], (0.75 * current + 0.25 * measured)[mask])
    torch.testing.assert_close(output[~mask], current[~mask])


def test_cascade_gradcheck_float64():
    """Gradients of a whole cascade (data consistency, S, F, the NormUnet) by finite differences,
    with respect to the current k-space, the sensitivity maps and the data-consistency weight."""
    torch.manual_seed(0)
    block = VarNetBlock(NormUnet(chans=2, num_pools=1)).double()
    measured = _complex(1, COILS, HEIGHT, WIDTH, seed=4) * _mask()
    current = _complex(1, COILS, HEIGHT, WIDTH, seed=3).requires_grad_()
    maps = _maps(0).requires_grad_()

    def cascade(kspace, sens_maps, dc_weight):
        return torch.func.functional_call(
            block, {"dc_weight": dc_weight}, (kspace, measured, _mask(), sens_maps), strict=False
        )

    dc_weight = torch.tensor([0.7], dtype=torch.float64, requires_grad=True)
    assert gradcheck(cascade, (current, maps, dc_weight), atol=1e-6, fast_mode=True)


def test_centre_count_is_fastmris_rule():
    """Twice the shorter run of sampled lines on either side of the middle, at least 1."""
    mask = torch.zeros(3, 1, 1, 12, 1, dtype=torch.bool)
    mask[0, ..., 4:9, :] = True  # middle 6: two lines left of it sampled, three from it
    mask[1, ..., 7, :] = True  # the middle line unsampled
    mask[2, ..., ::2, :] = True
    expected = FastMriSensitivityModel(2, 1).get_pad_and_num_low_freqs(mask)[1]
    assert count_low_frequencies(mask).tolist() == expected.tolist() == [4, 1, 1]
