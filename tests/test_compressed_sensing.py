"""The compressed-sensing baseline (``mri_recon.inference.compressed_sensing``): better than
zero-filled on simulated data whose truth is known, equal to SigPy's own calls, through the
volume loop with the same masks (and so the same zero-filled image) as the networks, and through
``mri-recon reconstruct --baseline cs``, whose bad options are one-line errors."""

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import sigpy
import torch
from sigpy.mri.app import EspiritCalib, JsenseRecon, L1WaveletRecon, TotalVariationRecon
from torch.utils.data import default_collate

from data_prep.simulate import simulate_dataset
from mri_recon.cli import main
from mri_recon.data.masks import create_mask
from mri_recon.data.slice_dataset import SliceDataset
from mri_recon.data.varnet_transform import VarNetDataTransform
from mri_recon.inference.comparison import read_target
from mri_recon.inference.compressed_sensing import (
    CALIBRATION_WIDTH,
    JSENSE_KERNEL_WIDTH,
    JSENSE_WEIGHT,
    SEED,
    CompressedSensing,
    centre_lines,
    cs_image,
    seeded,
    sigpy_device,
)
from mri_recon.inference.volumes import reconstruct_volumes, volume_dataset
from mri_recon.metrics import psnr, ssim
from mri_recon.options import CsOptions, MaskSettings
from tests.helpers import SMALL_MULTICOIL, error_line, read_volume, run_main

CPU = torch.device("cpu")
MASKS = {4: 0.08, 8: 0.04}
# Piecewise-smooth phantoms, 96 x 96, with 8 coils (multicoil): what CS is made for.
PHANTOMS = replace(SMALL_MULTICOIL, coils=8, recon_size=96, num_volumes=2, slices_per_volume=1,
                   val_fraction=0.5, test_fraction=0.0, seed=3)  # fmt: skip


@pytest.fixture(
    scope="module", params=[pytest.param("multicoil", marks=pytest.mark.slow), "singlecoil"]
)
def phantoms(request, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A fully sampled phantom volume of one slice: its folder and challenge. Multicoil CS
    (sensitivity maps, then 8 coils per iteration) takes seconds a slice: left to ``make test``."""
    challenge = request.param
    config = replace(PHANTOMS, challenge=challenge, coils=8 if challenge == "multicoil" else None)
    root = tmp_path_factory.mktemp(f"phantoms_{challenge}")
    simulate_dataset(config, root, progress=False)
    return root / f"{challenge}_val", challenge


def first_sample(folder: Path, challenge: str, acceleration: int):
    """The first slice of ``folder`` undersampled as validation does, as a VarNet sample."""
    mask = create_mask("random", [MASKS[acceleration]], [acceleration])
    transform = VarNetDataTransform(challenge, mask, use_seed=True)
    return SliceDataset(folder, challenge, transform=transform)[0]


@pytest.mark.parametrize("acceleration", sorted(MASKS))
def test_cs_beats_zero_filled_where_the_truth_is_known(phantoms, acceleration: int) -> None:
    folder, challenge = phantoms
    cs = CompressedSensing(device=CPU)
    mask = MaskSettings("random", [MASKS[acceleration]], [acceleration])
    dataset = volume_dataset(folder, challenge, mask, net=cs)
    (volume,) = reconstruct_volumes(cs, dataset, CPU, progress=False)
    target, _ = read_target(folder / volume.fname, challenge)
    assert volume.reconstruction.shape == target.shape and volume.reconstruction.dtype == np.float32
    assert ssim(target, volume.reconstruction) > ssim(target, volume.zero_filled) + 0.02
    assert psnr(target, volume.reconstruction) > psnr(target, volume.zero_filled) + 0.5
    assert cs.slices == 1 and cs.seconds_per_slice() > 0
    assert "per slice on cpu" in cs.describe()


def test_cs_equals_sigpys_own_calls(phantoms) -> None:
    folder, challenge = phantoms
    sample = first_sample(folder, challenge, 4)
    kspace = torch.view_as_complex(sample.masked_kspace).numpy()
    mask = sample.mask.flatten().numpy()
    for options in (CsOptions(cs_iterations=30), CsOptions("tv", 3e-3, 20)):
        ours = cs_image(kspace, mask, options)
        # SigPy's calls, as its documentation shows them, on the k-space scaled to a zero-filled
        # peak of 1 and the data term on the sampled lines; its power iterations start from SEED
        np.random.seed(SEED)
        scale = sigpy.rss(sigpy.ifft(kspace, axes=(-2, -1)), axes=(0,)).max()
        y = kspace / np.float32(scale)
        weights = np.ascontiguousarray(np.broadcast_to(mask.astype(np.float32), y.shape[1:]))
        if challenge == "multicoil":
            maps = JsenseRecon(y, mps_ker_width=JSENSE_KERNEL_WIDTH, ksp_calib_width=24,
                               lamda=JSENSE_WEIGHT, weights=weights,
                               show_pbar=False).run()  # fmt: skip
        else:
            maps = np.ones((1, *y.shape[1:]), np.complex64)
        app = L1WaveletRecon if options.cs_regularizer == "wavelet" else TotalVariationRecon
        theirs = app(y, maps, options.cs_weight, weights=weights,
                     max_iter=options.cs_iterations, show_pbar=False).run()  # fmt: skip
        np.testing.assert_array_equal(ours, theirs * np.float32(scale))


def test_cs_is_the_same_on_every_run_and_leaves_numpys_generator_alone(phantoms) -> None:
    folder, challenge = phantoms
    sample = first_sample(folder, challenge, 8)
    kspace = torch.view_as_complex(sample.masked_kspace).numpy()
    mask = sample.mask.flatten().numpy()
    options = CsOptions("tv", 3e-3, 10)  # unseeded, TV's step size changes from run to run
    np.random.seed(7)
    first = cs_image(kspace, mask, options)
    after = np.random.random()
    np.random.seed(7)
    np.testing.assert_array_equal(cs_image(kspace, mask, options), first)
    assert np.random.random() == after
    with seeded(sigpy.cpu_device):
        assert np.random.random() == np.random.RandomState(SEED).random()


def test_espirit_maps_are_sigpys_on_the_fully_sampled_centre(phantoms) -> None:
    folder, challenge = phantoms
    if challenge == "singlecoil":
        pytest.skip("single-coil CS has no sensitivity maps")
    sample = first_sample(folder, challenge, 4)
    kspace = torch.view_as_complex(sample.masked_kspace).numpy()
    mask = sample.mask.flatten().numpy()
    width = min(CALIBRATION_WIDTH, centre_lines(mask))
    assert width == sample.num_low_frequencies  # the mask's centre lines
    options = CsOptions(cs_sensitivities="espirit", cs_iterations=10)
    ours = cs_image(kspace, mask, options)
    np.random.seed(SEED)
    scale = sigpy.rss(sigpy.ifft(kspace, axes=(-2, -1)), axes=(0,)).max()
    y = kspace / np.float32(scale)
    weights = np.ascontiguousarray(np.broadcast_to(mask.astype(np.float32), y.shape[1:]))
    maps = EspiritCalib(y, calib_width=width, kernel_width=6, crop=0.0, show_pbar=False).run()
    theirs = L1WaveletRecon(y, maps, options.cs_weight, weights=weights, max_iter=10,
                            show_pbar=False).run()  # fmt: skip
    np.testing.assert_array_equal(ours, theirs * np.float32(scale))


def test_espirit_refuses_too_few_centre_lines() -> None:
    kspace = np.ones((2, 16, 16), np.complex64)
    mask = np.zeros(16, bool)
    mask[7:10] = True  # 3 centre lines
    with pytest.raises(ValueError, match="^cs-sensitivities: espirit needs at least 4 fully"):
        cs_image(kspace, mask, CsOptions(cs_sensitivities="espirit"))


def test_centre_lines_counts_the_sampled_run_around_the_centre() -> None:
    mask = np.zeros(16, bool)
    mask[[1, 6, 7, 8, 9, 14]] = True
    assert centre_lines(mask) == 4
    assert centre_lines(np.zeros(8, bool)) == 0
    assert centre_lines(np.ones(8, bool)) == 8


def test_nothing_sampled_gives_the_zero_image() -> None:
    image = cs_image(np.zeros((2, 8, 8), np.complex64), np.zeros(8, bool))
    assert image.shape == (8, 8) and not image.any()


def test_cs_batches_are_its_slices_cropped_like_the_networks(phantoms) -> None:
    folder, challenge = phantoms
    sample = first_sample(folder, challenge, 8)
    options = CsOptions(cs_iterations=5)
    cs = CompressedSensing(options, CPU)
    batch = default_collate([sample, sample])
    images = cs(batch)
    assert images.shape == (2, *sample.target.shape) and images.dtype == torch.float32
    one = cs_image(torch.view_as_complex(sample.masked_kspace).numpy(), sample.mask.flatten(),
                   options)  # fmt: skip
    expected = sample.crop(torch.from_numpy(np.abs(one))).numpy()
    np.testing.assert_array_equal(images[0].numpy(), expected)
    np.testing.assert_array_equal(images[1].numpy(), expected)
    assert cs.slices == 2


def test_cs_runs_on_the_cpu_without_cuda() -> None:
    assert sigpy_device(CPU) == sigpy.cpu_device
    if not torch.cuda.is_available():
        assert CompressedSensing(device=CPU).device_name == "cpu"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cs_weight": -1.0}, "cs-weight must be a positive number, got -1.0"),
        ({"cs_weight": math.nan}, "cs-weight must be a positive number, got nan"),
        ({"cs_weight": 0.0}, "cs-weight must be a positive number, got 0.0"),
        ({"cs_iterations": 0}, "cs-iterations must be >= 1, got 0"),
        ({"cs_regularizer": "l2"}, "cs-regularizer must be one of ('wavelet', 'tv'), got 'l2'"),
        ({"cs_sensitivities": "walsh"}, "cs-sensitivities must be one of"),
    ],
)
def test_bad_cs_options_are_named(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        CsOptions(**fields)


@pytest.mark.slow
def test_reconstruct_baseline_cs_writes_the_volume_loops_images(
    small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    data, out = small_multicoil / "multicoil_val", tmp_path / "out"
    args = ("--baseline", "cs", "--accelerations", "4", "--cs-iterations", "5")
    code, stdout, _ = run_main(
        capsys, "reconstruct", "--data-path", data, "--output-path", out, *args
    )
    assert code == 0 and "wrote 2 reconstructions" in stdout
    assert "CS: SigPy L1-wavelet, weight" in stdout and "s per slice on cpu" in stdout
    cs = CompressedSensing(CsOptions(cs_iterations=5), CPU)
    mask = MaskSettings("random", [0.08], [4])
    for volume in reconstruct_volumes(cs, volume_dataset(data, "multicoil", mask, net=cs), CPU):
        np.testing.assert_array_equal(read_volume(out / volume.fname), volume.reconstruction)
        assert volume.reconstruction.shape == (3, 32, 32)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--cs-weight", "-1"), "cs-weight must be a positive number, got -1.0"),
        (("--cs-weight", "nan"), "cs-weight must be a positive number, got nan"),
        (("--cs-iterations", "0"), "cs-iterations must be >= 1, got 0"),
        (
            ("--cs-sensitivities", "espirit", "--center-fractions", "0.04"),
            "cs-sensitivities: espirit needs at least 4 fully sampled centre lines, centre "
            "fraction 0.04 of 32 columns gives 1; use jsense or a larger --center-fractions",
        ),
    ],
)
def test_bad_cs_options_are_one_line_errors(
    small_multicoil: Path, tmp_path: Path, capsys, args: tuple[str, ...], message: str
) -> None:
    data, out = small_multicoil / "multicoil_val", tmp_path / "out"
    code, stdout, err = run_main(
        capsys, "reconstruct", "--data-path", data, "--output-path", out,
        "--baseline", "cs", "--accelerations", "4", *args,
    )  # fmt: skip
    assert code == 2 and message in error_line(err, "reconstruct")
    assert not out.exists() or not any(out.iterdir())


def test_cs_options_without_the_cs_baseline_are_an_error(
    small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    data, out = small_multicoil / "multicoil_val", tmp_path / "out"
    code, _, err = run_main(
        capsys, "reconstruct", "--data-path", data, "--output-path", out,
        "--baseline", "zero-filled", "--accelerations", "4", "--cs-weight", "0.01",
    )  # fmt: skip
    assert code == 2
    assert error_line(err, "reconstruct").endswith("error: cs options: go with --baseline cs")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--cs-regularizer", "l2"), "argument --cs-regularizer: invalid choice: 'l2'"),
        (("--cs-sensitivities", "walsh"), "argument --cs-sensitivities: invalid choice: 'walsh'"),
        (("--cs-iterations", "many"), "argument --cs-iterations: invalid int value: 'many'"),
    ],
)
def test_cs_options_of_the_wrong_kind_are_argparse_errors(
    tmp_path: Path, capsys, args: tuple[str, ...], message: str
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["reconstruct", "--data-path", str(tmp_path), "--output-path", str(tmp_path / "out"),
              "--baseline", "cs", *args])  # fmt: skip
    assert done.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after argparse's usage
    assert last.startswith("mri-recon reconstruct: error: ") and message in last
