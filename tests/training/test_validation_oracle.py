"""Validation metrics and the SSIM loss against fastmri's own pieces, computed independently.

The oracle reads the val split with fastmri's ``SliceDataset`` and ``UnetDataTransform`` (same
seeded masks), runs the network slice by slice, un-normalises by hand and scores each volume with
``fastmri.evaluate``'s functions the way fastMRI's Lightning module does (data range = the file's
``max`` attribute). The module's SSIM loss is checked against ``fastmri.losses.SSIMLoss`` on
un-normalised images.
"""

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch
from fastmri import evaluate as fm_evaluate
from fastmri.data import SliceDataset as FastmriSliceDataset
from fastmri.data.subsample import RandomMaskFunc
from fastmri.data.transforms import UnetDataTransform as FastmriUnetTransform
from fastmri.losses import SSIMLoss
from torch.utils.data import default_collate

from mri_recon.data import SliceDataset, UnetDataTransform
from mri_recon.training import ReconModule
from tests.helpers import fit_args, run_cli


def fastmri_val_metrics(net: torch.nn.Module, folder: Path) -> dict[str, float]:
    """Mean over volumes of NMSE, PSNR and SSIM, each volume scored as fastMRI's module does."""
    mask = RandomMaskFunc([0.08, 0.04], [4, 8])  # the demo recipe's validation masks
    transform = FastmriUnetTransform("multicoil", mask_func=mask, use_seed=True)
    outputs, targets, max_values = defaultdict(dict), defaultdict(dict), {}
    net.eval()
    with torch.no_grad():
        for sample in FastmriSliceDataset(folder, "multicoil", transform=transform):
            output = net(sample.image[None, None])[0, 0]
            outputs[sample.fname][sample.slice_num] = (output * sample.std + sample.mean).numpy()
            targets[sample.fname][sample.slice_num] = (
                sample.target * sample.std + sample.mean
            ).numpy()
            max_values[sample.fname] = sample.max_value
    scores = defaultdict(list)
    for fname in outputs:
        order = sorted(outputs[fname])
        output = np.stack([outputs[fname][i] for i in order])
        target = np.stack([targets[fname][i] for i in order])
        maxval = max_values[fname]
        scores["nmse"].append(fm_evaluate.nmse(target, output))
        scores["psnr"].append(fm_evaluate.psnr(target, output, maxval=maxval))
        scores["ssim"].append(fm_evaluate.ssim(target, output, maxval=maxval))
    return {name: float(np.mean(values)) for name, values in scores.items()}


def test_validate_reports_fastmris_metrics(
    tiny_checkpoint: Path, small_multicoil: Path, tmp_path: Path
) -> None:
    args = fit_args("demo", small_multicoil, tmp_path, "--model.net.init_args.chans", "4",
                    "--trainer.precision", "32")  # fmt: skip
    cli = run_cli("validate", *args[1:], "--ckpt_path", str(tiny_checkpoint))
    logged = cli.trainer.callback_metrics
    expected = fastmri_val_metrics(cli.model.net, small_multicoil / "multicoil_val")
    assert int(logged["val/volumes"]) == 2
    for name, value in expected.items():
        assert float(logged[f"val/{name}"]) == pytest.approx(value, rel=1e-4), name


def test_ssim_loss_is_fastmris_on_unnormalised_images(small_multicoil: Path) -> None:
    mask = RandomMaskFunc([0.08], [4])
    transform = UnetDataTransform("multicoil", mask_func=mask, use_seed=True)
    dataset = SliceDataset(small_multicoil / "multicoil_val", "multicoil", transform=transform)
    batch = default_collate([dataset[i] for i in range(3)])
    output = batch.image + 0.3 * torch.randn(
        batch.image.shape, generator=torch.Generator().manual_seed(0)
    )
    module = ReconModule(loss="ssim")
    std, mean = batch.std[:, None, None, None], batch.mean[:, None, None, None]
    expected = SSIMLoss()(
        output.unsqueeze(1) * std + mean,
        batch.target.unsqueeze(1) * std + mean,
        batch.max_value.to(torch.float32),
    )
    assert float(module._loss(output, batch)) == pytest.approx(float(expected), rel=1e-5)
