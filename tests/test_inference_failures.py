"""``reconstruct`` and ``evaluate`` never pass on a NaN, name every bad file, check their
arguments and outputs before the work, and exit non-zero when a volume failed."""

import json
import re
import subprocess
import sys
from pathlib import Path

import h5py
import nibabel
import numpy as np
import pytest
import torch
from PIL import Image

from mri_recon.inference.volumes import reconstruct_volumes, volume_dataset
from mri_recon.models import Unet
from mri_recon.options import MaskSettings
from tests.helpers import copy_folder, error_line, read_volume, run_main


def poison(path: Path, key: str, index: tuple) -> None:
    """Puts a NaN at ``index`` of dataset ``key``."""
    with h5py.File(path, "a") as hf:
        data = hf[key][()]
        data[index] = np.nan
        hf[key][...] = data


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:2000])


@pytest.fixture
def val_copy(small_multicoil: Path, tmp_path: Path) -> Path:
    """A writable copy of the val split (two fully sampled volumes)."""
    return copy_folder(small_multicoil / "multicoil_val", tmp_path / "val")


def test_reconstruct_writes_no_output_for_a_nan_volume_and_exits_1(
    tiny_checkpoint: Path, val_copy: Path, tmp_path: Path, capsys
) -> None:
    bad, good = sorted(val_copy.glob("*.h5"))
    poison(bad, "kspace", (1, 0, 3, 3))
    out = tmp_path / "out"
    args = ("reconstruct", "--checkpoint", tiny_checkpoint, "--data-path", val_copy)
    code, stdout, _ = run_main(capsys, *args, "--output-path", out)
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == [good.name]
    assert np.isfinite(read_volume(out / good.name)).all()
    assert f"  {bad.name}: slice 1: 'kspace' holds NaN or infinite values" in stdout
    code, stdout, _ = run_main(capsys, *args, "--output-path", out, "--skip-bad-files")
    assert code == 0 and "failed 1 volume(s)" in stdout  # listed, but asked for


def test_reconstruct_fails_a_volume_whose_reconstruction_is_not_finite(
    tiny_checkpoint: Path, val_copy: Path, tmp_path: Path, capsys
) -> None:
    state = torch.load(tiny_checkpoint, weights_only=True)
    weight = next(k for k in state["state_dict"] if k.endswith("weight"))
    state["state_dict"][weight].fill_(float("inf"))
    broken = tmp_path / "broken.ckpt"
    torch.save(state, broken)  # as another program could write it: ours refuse to
    out = tmp_path / "out"
    code, stdout, _ = run_main(
        capsys, "reconstruct", "--checkpoint", broken, "--data-path", val_copy,
        "--output-path", out,
    )  # fmt: skip
    assert code == 1
    assert not list(out.glob("*.h5")) if out.exists() else True  # no output for a NaN volume
    assert re.search(r"slice 0: the reconstruction holds NaN or infinite values", stdout)


def test_evaluate_checkpoint_leaves_a_nan_target_out_of_every_mean(
    tiny_checkpoint: Path, val_copy: Path, tmp_path: Path, capsys
) -> None:
    bad, good = sorted(val_copy.glob("*.h5"))
    poison(bad, "reconstruction_rss", (2, 5, 5))
    report_path = tmp_path / "report.json"
    code, stdout, _ = run_main(
        capsys, "evaluate", "--checkpoint", tiny_checkpoint, "--data-path", val_copy,
        "--output", report_path,
    )  # fmt: skip
    assert code == 1
    report = json.loads(report_path.read_text())
    assert {v["fname"] for v in report["volumes"]} == {good.name}
    assert report["failures"] == [
        f"{bad.name}: slice 2: 'reconstruction_rss' holds NaN or infinite values"
    ]
    for group in report["summary"].values():
        for method in ("zero-filled", "U-Net"):
            assert all(np.isfinite(value) for value in group[method].values())
    assert "failed 1:" in stdout


def write_prediction(folder: Path, name: str, volume: np.ndarray) -> None:
    folder.mkdir(exist_ok=True)
    with h5py.File(folder / name, "w") as hf:
        hf.create_dataset("reconstruction", data=volume)


def test_evaluate_folders_exit_status(small_multicoil: Path, tmp_path: Path, capsys) -> None:
    truth = small_multicoil / "multicoil_test_truth"
    first, second = sorted(truth.glob("*.h5"))
    preds = tmp_path / "preds"
    target = read_volume(first, "reconstruction_rss")
    write_prediction(preds, first.name, target * 0.9)
    nan = target.copy()
    nan[0, 0, 0] = np.nan
    write_prediction(preds, second.name, nan)
    args = ("evaluate", "--target-path", truth, "--predictions-path", preds)
    code, stdout, _ = run_main(capsys, *args)
    assert code == 1
    assert f"  {second.name}: prediction holds NaN or infinite values" in stdout
    assert "nan" not in stdout.split("failed")[0].lower()  # no NaN mean in the table
    code, _, _ = run_main(capsys, *args, "--skip-bad-files")
    assert code == 0
    write_prediction(preds, first.name, target.astype(np.complex64))  # no volume left to score
    code, stdout, _ = run_main(capsys, *args, "--skip-bad-files")
    assert code == 1 and "no volumes evaluated" in stdout
    assert "prediction has dtype complex64, not real floating-point numbers" in stdout
    write_prediction(preds, first.name, (target * 1000).astype(np.int16))  # rounded elsewhere
    code, stdout, _ = run_main(capsys, *args)
    assert code == 1 and "no volumes evaluated" in stdout
    assert f"  {first.name}: prediction has dtype int16, not real floating-point" in stdout


def test_hdf5_errors_name_the_file(
    tiny_checkpoint: Path, val_copy: Path, tmp_path: Path, capsys
) -> None:
    first = sorted(val_copy.glob("*.h5"))[0]
    truncate(first)
    for command in ("reconstruct", "evaluate"):
        out = ("--output-path", tmp_path / "out") if command == "reconstruct" else ()
        code, _, err = run_main(
            capsys, command, "--checkpoint", tiny_checkpoint, "--data-path", val_copy, *out
        )
        assert code == 2
        line = error_line(err, command)
        assert f"{first}: not a readable HDF5 file" in line


def test_a_network_error_names_every_volume_of_its_batch(small_multicoil: Path) -> None:
    data = small_multicoil / "multicoil_val"
    dataset = volume_dataset(data, "multicoil", MaskSettings("random", [0.08], [4]))
    names = sorted(path.name for path in data.glob("*.h5"))
    assert len(names) == 2 and len(dataset) <= 8  # one batch of 8 holds both volumes' slices
    net = Unet(1, 1, 2, num_pool_layers=6)  # needs 64 px a side: the slices have 32
    with pytest.raises(ValueError) as error:
        list(reconstruct_volumes(net, dataset, torch.device("cpu"), progress=False))
    assert str(error.value).startswith(f"{names[0]}, {names[1]}: Unet: image height and width")


def test_header_recon_size_zero_is_named_before_the_work(
    val_copy: Path, tmp_path: Path, capsys
) -> None:
    first = sorted(val_copy.glob("*.h5"))[0]
    with h5py.File(first, "a") as hf:
        xml = hf["ismrmrd_header"][()].decode()
        del hf["ismrmrd_header"]
        pattern = r"(<reconSpace><matrixSize><x>)\d+"
        hf.create_dataset("ismrmrd_header", data=re.sub(pattern, r"\g<1>0", xml).encode())
    code, stdout, err = run_main(
        capsys, "reconstruct", "--baseline", "zero-filled", "--accelerations", "4",
        "--data-path", val_copy, "--output-path", tmp_path / "out",
    )  # fmt: skip
    assert code == 2 and stdout == ""
    assert f"{first}: ismrmrd_header encoding/reconSpace/matrixSize is 0 x" in error_line(
        err, "reconstruct"
    )


def test_mask_settings_are_checked_against_the_width_before_the_work(
    small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    # 32 columns: round(32 * 0.06) = 2 centre lines, and 2 x 16 = 32 (fastmri divides by zero)
    code, stdout, err = run_main(
        capsys, "reconstruct", "--baseline", "zero-filled",
        "--data-path", small_multicoil / "multicoil_val", "--output-path", tmp_path / "out",
        "--mask-type", "equispaced_fraction",
        "--accelerations", "16", "--center-fractions", "0.06",
    )  # fmt: skip
    assert code == 2 and stdout == "" and not (tmp_path / "out").exists()
    line = error_line(err, "reconstruct")
    assert "center_fractions: 0.06 at 16x leaves no lines to undersample" in line
    assert "32 columns wide" in line


def test_an_unwritable_report_is_refused_before_the_work(
    small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    truth = small_multicoil / "multicoil_test_truth"
    code, stdout, err = run_main(
        capsys, "evaluate", "--target-path", truth, "--predictions-path", truth,
        "--output", "/proc/mri-recon/report.json",
    )  # fmt: skip
    assert code == 2 and stdout == ""  # no table: nothing was evaluated
    assert "output: /proc/mri-recon/report.json cannot be written" in error_line(err, "evaluate")


def zero_filled(data: Path, out: Path) -> tuple[str | Path, ...]:
    """``reconstruct`` of the zero-filled baseline at 4x from ``data`` into ``out``."""
    return ("reconstruct", "--baseline", "zero-filled", "--accelerations", "4", "--data-path", data,
            "--output-path", out)  # fmt: skip


def test_an_unsound_output_of_ours_is_redone_on_rerun(
    val_copy: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    args = (*zero_filled(val_copy, out), "--png")
    assert run_main(capsys, *args)[0] == 0
    first, second = sorted(out.glob("*.h5"))
    expected = read_volume(first)
    with h5py.File(first, "a") as hf:  # edited in place: the mark stays, a NaN comes in
        hf["reconstruction"][0, 0, 0] = np.nan
    with h5py.File(second, "a") as hf:  # another shape, as if the input had changed
        del hf["reconstruction"]
        hf.create_dataset("reconstruction", data=np.zeros((3, 4, 4), np.float32))
    preview = first.with_suffix(".png")
    preview.write_bytes(preview.read_bytes()[:-200])  # a truncated preview of ours
    code, stdout, _ = run_main(capsys, *args)
    assert code == 0
    assert "redid 2 existing output(s) that were not sound:" in stdout
    assert f"{first}: holds NaN or infinite values" in stdout
    assert f"{second}: holds float32 (3, 4, 4), not float (3, 32, 32)" in stdout
    np.testing.assert_array_equal(read_volume(first), expected)
    assert read_volume(second).shape == expected.shape
    with Image.open(preview) as image:
        image.load()  # whole again


def test_a_truncated_preview_of_a_kept_output_is_redone(
    val_copy: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    args = zero_filled(val_copy, out)
    assert run_main(capsys, *args, "--png", "--nifti")[0] == 0
    first = sorted(out.glob("*.h5"))[0]
    preview, nifti = first.with_suffix(".png"), first.with_suffix(".nii.gz")
    preview.write_bytes(preview.read_bytes()[:-200])
    nifti.write_bytes(nifti.read_bytes()[:-100])
    code, stdout, _ = run_main(capsys, *args, "--png", "--nifti")
    assert code == 0 and "skipped 2 that already existed" in stdout
    assert f"{preview}: unreadable" in stdout and f"{nifti}: unreadable" in stdout
    with Image.open(preview) as image:
        image.load()
    assert nibabel.load(nifti).get_fdata().shape == read_volume(first).shape[::-1]


def test_files_it_did_not_write_stop_the_run_untouched(
    val_copy: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    args = zero_filled(val_copy, out)
    assert run_main(capsys, *args)[0] == 0
    first, second = sorted(out.glob("*.h5"))
    truncate(first)  # whatever truncated it, what is left cannot prove who wrote it
    with h5py.File(second, "w") as hf:  # another program's file under the output's name
        hf.create_dataset("reconstruction", data=np.zeros((3, 32, 32), np.float32))
    before = {path: path.read_bytes() for path in out.iterdir()}
    for extra in ((), ("--overwrite",)):
        code, stdout, err = run_main(capsys, *args, *extra)
        line = error_line(err, "reconstruct")
        assert code == 2 and stdout == ""
        assert f"output-path: {first} was not written by mri-recon as a reconstruction" in line
        assert "(and 1 more file(s) in the way)" in line
        assert {path: path.read_bytes() for path in out.iterdir()} == before


def test_bad_input_files_stop_the_run_unless_skipped(
    val_copy: Path, tmp_path: Path, capsys
) -> None:
    bad = sorted(val_copy.glob("*.h5"))[1]
    truncate(bad)
    args = zero_filled(val_copy, tmp_path / "out")
    code, _, err = run_main(capsys, *args)
    assert code == 2 and f"{bad}: not a readable HDF5 file" in error_line(err, "reconstruct")
    code, stdout, _ = run_main(capsys, *args, "--skip-bad-files")
    assert code == 0
    assert "wrote 1 reconstruction" in stdout and "skipped 1 bad input file(s):" in stdout
    assert f"  {bad}: not a readable HDF5 file" in stdout


@pytest.mark.slow  # a new process that imports torch
def test_noise_warnings_are_not_shown(val_copy: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "weights.pt"
    torch.save({"w": torch.ones(2)}, foreign, pickle_protocol=4)  # torch warns on protocol 4
    result = subprocess.run(
        [sys.executable, "-m", "mri_recon", "reconstruct", "--checkpoint", str(foreign),
         "--data-path", str(val_copy), "--output-path", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()  # torch's pickle-protocol warning is not shown
    assert line.startswith(f"mri-recon reconstruct: error: checkpoint {foreign}: ")
    assert "weights_only" not in line
