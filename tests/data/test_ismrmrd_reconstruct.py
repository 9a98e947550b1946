"""A raw scan acquired undersampled, converted and reconstructed by a trained checkpoint, comes out
closer to the truth than its zero-filled image: the whole path from raw data to images. The
checkpoint is the demo recipe at 8 channels trained for 20 epochs on the small simulated dataset
(SSIM about 0.61 against 0.53 zero-filled on the held-out scan)."""

from pathlib import Path

import numpy as np
import pytest

from data_prep import simulate
from data_prep.cli import main as data_prep_main
from data_prep.sources import open_source
from mri_recon.metrics import ssim
from tests.data.ismrmrd_scans import write_scan
from tests.helpers import SMALL_MULTICOIL, fit_args, read_volume, run_cli, run_main

EPOCHS = "20"


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory: pytest.TempPathFactory, small_multicoil: Path) -> Path:
    """``last.ckpt`` of the demo recipe (8 channels, EPOCHS epochs) on ``small_multicoil``."""
    root = tmp_path_factory.mktemp("small_fit")
    overrides = ("--model.net.init_args.chans", "8", "--trainer.max_epochs", EPOCHS,
                 "--model.lr_scheduler.init_args.T_max", EPOCHS,
                 "--checkpoint.dirpath", str(root / "checkpoints"))  # fmt: skip
    run_cli(*fit_args("demo", small_multicoil, root, *overrides))
    return root / "checkpoints" / "last.ckpt"


@pytest.mark.slow  # trains the checkpoint: about 25 s on 2 cores
def test_a_converted_undersampled_scan_beats_zero_filled(
    small_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    # A volume of the checkpoint's training distribution that it was not trained on.
    volume = simulate.simulate_volume(SMALL_MULTICOIL, open_source("phantom"), 1000, "AXT1")
    width = volume.kspace.shape[-1]
    mask, _ = simulate.test_mask("scan.h5", width, 0, "random", 0.08, 4)
    raw = tmp_path / "raw"
    raw.mkdir()
    write_scan(raw / "scan.h5", volume.kspace, pad_lines=0, recon_size=32, mask=mask)
    converted = tmp_path / "converted"
    assert data_prep_main(["convert", str(raw), "--output", str(converted), "--quiet"]) == 0
    scores = {}
    for method in (("--zero-filled",), ("--checkpoint", small_checkpoint)):
        out = tmp_path / method[0].strip("-")
        args = ("--data-path", converted, "--output-path", out, "--accelerator", "cpu")
        code, stdout, _ = run_main(capsys, "reconstruct", *method, *args)
        assert code == 0, stdout
        scores[method[0]] = ssim(volume.targets["reconstruction_rss"], read_volume(out / "scan.h5"))
    assert scores["--checkpoint"] > scores["--zero-filled"]
    assert np.isfinite(list(scores.values())).all()
