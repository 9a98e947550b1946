"""Training never passes a NaN on: bad data and a diverging run stop with one line naming the
slices, no checkpoint holds a non-finite weight, and a failed start leaves no empty log folder."""

from pathlib import Path

import h5py
import numpy as np
import torch

from tests.helpers import copy_folder, error_line, fit_args, run_main

SMALL = ("--model.net.init_args.chans", "4", "--trainer.precision", "32")


def data_copy(small_multicoil: Path, root: Path) -> Path:
    """A writable copy of the train and val splits."""
    for split in ("train", "val"):
        copy_folder(small_multicoil / f"multicoil_{split}", root / f"multicoil_{split}")
    return root


def put_nan(path: Path, slice_num: int) -> None:
    with h5py.File(path, "a") as hf:
        kspace = hf["kspace"][()]
        kspace[slice_num, 1, 4, 4] = np.nan
        hf["kspace"][...] = kspace


def checkpoints_are_finite(folder: Path) -> list[str]:
    """The checkpoint names of ``folder``, each checked to hold finite weights only."""
    names = []
    for path in sorted(folder.glob("*.ckpt")):
        state = torch.load(path, weights_only=True)["state_dict"]
        assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
        names.append(path.name)
    return names


def test_a_nan_slice_stops_fit_with_its_name(small_multicoil: Path, tmp_path: Path, capsys):
    data = data_copy(small_multicoil, tmp_path / "data")
    bad = sorted((data / "multicoil_train").glob("*.h5"))[2]
    put_nan(bad, 1)
    root = tmp_path / "run"
    code, _, err = run_main(capsys, *fit_args("demo", data, root, *SMALL))
    assert code == 2
    assert error_line(err.strip().splitlines()[-1], "fit").endswith(
        f"error: {bad}: slice 1: 'kspace' holds NaN or infinite values"
    )
    checkpoints_are_finite(root / "checkpoints")


def test_skipping_bad_data_trains_on_and_reports_it(small_multicoil: Path, tmp_path: Path, capsys):
    data = data_copy(small_multicoil, tmp_path / "data")
    bad = sorted((data / "multicoil_train").glob("*.h5"))[2]
    put_nan(bad, 1)
    root = tmp_path / "run"
    args = fit_args("demo", data, root, *SMALL, "--data.skip_bad_files", "true",
                    "--trainer.max_epochs", "2")  # fmt: skip
    code, _, err = run_main(capsys, *args)
    assert code == 0
    assert f"warning: skipping bad slice {bad}: slice 1: 'kspace' holds NaN" in err
    summary = err[err.index("mri-recon fit: skipped") :].splitlines()
    assert summary == [  # skipped in both epochs: one slice, named
        "mri-recon fit: skipped 0 bad file(s) and 1 bad slice(s) (--data.skip_bad_files):",
        f"  {bad}: slice 1: 'kspace' holds NaN or infinite values",
    ]
    assert "last.ckpt" in checkpoints_are_finite(root / "checkpoints")


def test_a_diverging_run_stops_before_a_nan_weight_and_keeps_the_last_checkpoint(
    small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    root = tmp_path / "run"
    # SGD whose learning rate jumps from 0.01 to 1e18 after the first epoch.
    args = fit_args(
        "demo", small_multicoil, root, *SMALL, "--trainer.max_epochs", "2",
        "--data.batch_size", "2", "--model.optimizer", "torch.optim.SGD",
        "--model.optimizer.lr", "0.01", "--model.lr_scheduler", "torch.optim.lr_scheduler.StepLR",
        "--model.lr_scheduler.step_size", "1", "--model.lr_scheduler.gamma", "1e20",
    )  # fmt: skip
    code, _, err = run_main(capsys, *args)
    assert code == 2
    line = err.strip().splitlines()[-1]
    assert line.startswith("mri-recon fit: error: ") and "not finite" in line
    assert "slice" in line and "training stopped before the weights took that step" in line
    names = checkpoints_are_finite(root / "checkpoints")
    assert "last.ckpt" in names and not any("nan" in name for name in names)
    last = torch.load(root / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 9  # the first epoch's end: 9 steps of 2 slices


def test_a_failed_start_leaves_no_empty_log_folder(small_multicoil: Path, tmp_path: Path, capsys):
    data = data_copy(small_multicoil, tmp_path / "data")
    bad = sorted((data / "multicoil_val").glob("*.h5"))[0]
    bad.write_bytes(bad.read_bytes()[:1000])
    root = tmp_path / "run"
    code, _, err = run_main(capsys, *fit_args("demo", data, root, *SMALL))
    assert code == 2 and f"{bad}: not a readable HDF5 file" in err
    assert not list(root.glob("lightning_logs/version_*"))
