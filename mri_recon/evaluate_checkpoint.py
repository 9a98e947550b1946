"""``mri-recon evaluate --checkpoint``: reconstruct fully sampled data in memory and score the model
against the zero-filled baseline, per volume and per acceleration (``ComparisonReport``)."""

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from mri_recon.comparison import ComparisonReport, compare_volume
from mri_recon.data.fastmri_format import target_key
from mri_recon.inference import (
    MaskSettings,
    inference_transform,
    reconstruct_volumes,
    resolve_mask,
    select_device,
    volume_dataset,
)
from mri_recon.reconstruct import check_output_folder, data_challenge, data_files
from mri_recon.training.checkpoint import load_checkpoint


def has_target(path: Path, challenge: str) -> bool:
    """Whether ``path`` is a fully sampled file with a target (not a test file)."""
    with h5py.File(path, "r") as hf:
        return target_key(challenge) in hf and "mask" not in hf


def read_target(path: Path, challenge: str) -> tuple[np.ndarray, str]:
    """A file's target volume and its acquisition."""
    with h5py.File(path, "r") as hf:
        target = hf[target_key(challenge)][()]
        acquisition = hf.attrs.get("acquisition", "unknown")
    return target, acquisition.decode() if isinstance(acquisition, bytes) else str(acquisition)


def save_volume_figure(
    path: Path, row: dict, target: np.ndarray, zero_filled: np.ndarray, reconstruction: np.ndarray
) -> Path:
    """A PNG of the volume's middle slice: zero-filled | reconstruction | target | error."""
    from mri_recon.figures import ComparisonRow, save_comparison_png

    middle = target.shape[0] // 2
    labels = [
        f"zero-filled  volume SSIM {row['zero_filled']['ssim']:.3f}",
        f"U-Net  volume SSIM {row['model']['ssim']:.3f}",
        "target",
        "|error| x5",
    ]
    figure = ComparisonRow(
        title=f"{row['fname']}  slice {middle}  {row['acceleration']}x",
        zero_filled=zero_filled[middle],
        reconstruction=reconstruction[middle],
        target=target[middle],
        labels=labels,
    )
    return save_comparison_png([figure], path, overwrite=True)


def evaluate_checkpoint(
    checkpoint: str | Path,
    data_path: str | Path,
    accelerations: Sequence[int] | None = None,
    center_fractions: Sequence[float] | None = None,
    mask_type: str | None = None,
    batch_size: int = 8,
    accelerator: str = "auto",
    num_workers: int = 0,
    figures: str | Path | None = None,
    progress: bool = True,
) -> ComparisonReport:
    """Scores a checkpoint on the fully sampled volumes of ``data_path`` at each acceleration.

    Args:
        checkpoint: an ``mri-recon fit`` checkpoint.
        data_path: folder of fully sampled fastMRI files with targets (e.g. a val split).
        accelerations: undersampling factors to test; by default the checkpoint's.
        center_fractions: one per acceleration; fastMRI's 0.08 / 0.04 for 4x / 8x by default.
        mask_type: by default the checkpoint's.
        batch_size: slices per forward pass.
        accelerator: ``cpu``, ``gpu`` or ``auto``.
        num_workers: DataLoader workers reading the files.
        figures: folder for one comparison PNG per volume and acceleration.
        progress: show progress bars.
    """
    data_path = Path(data_path)
    files = data_files(data_path)
    if figures is not None:
        check_output_folder(Path(figures), data_path, "figures")
    loaded = load_checkpoint(checkpoint)
    in_data = data_challenge(files)
    challenge = loaded.data["challenge"] if loaded.data else in_data
    if in_data != challenge:
        raise ValueError(f"data-path: {data_path} does not hold {challenge} data")
    mask = resolve_mask(mask_type, accelerations, center_fractions, loaded.data)
    if mask is None:
        raise ValueError("accelerations: the checkpoint records none; give --accelerations")
    report = ComparisonReport(checkpoint=str(checkpoint))
    scored: set[str] = set()  # targets are read one volume at a time
    for file in files:
        if has_target(file, challenge):
            scored.add(file.name)
        else:
            report.problems.append(f"{file.name}: no target (test file?); it was not scored")
    if not scored:
        raise ValueError(f"data-path: {data_path} holds no fully sampled file with a target")
    device = select_device(accelerator)
    dataset = volume_dataset(data_path, challenge, None, files=scored)  # files checked once
    for acceleration, fraction in zip(mask.accelerations, mask.center_fractions):
        one = MaskSettings(mask.mask_type, [fraction], [acceleration])
        dataset.transform = inference_transform(challenge, one)
        for volume in reconstruct_volumes(
            loaded.net, dataset, device, batch_size, num_workers, progress
        ):
            target, acquisition = read_target(data_path / volume.fname, challenge)
            row = compare_volume(
                volume.fname, acquisition, acceleration, target, volume.zero_filled,
                volume.reconstruction,
            )  # fmt: skip
            report.rows.append(row)
            if figures is not None:
                name = f"{Path(volume.fname).stem}_{acceleration}x.png"
                save_volume_figure(
                    Path(figures) / name, row, target, volume.zero_filled, volume.reconstruction
                )
    return report
