"""``mri-recon reconstruct`` end to end: outputs, oracles, masks, resume, extras and errors."""

import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import h5py
import nibabel
import numpy as np
import pytest
import torch
from fastmri.data import SliceDataset
from fastmri.data.subsample import RandomMaskFunc, create_mask_for_mask_type
from PIL import Image

from data_prep.simulate import simulate_dataset
from mri_recon.cli import main
from mri_recon.data.unet_transform import UnetDataTransform
from mri_recon.inference.volumes import reconstruct_volumes, slice_batches, volume_dataset
from mri_recon.metrics import ssim
from mri_recon.models.checkpoint import load_checkpoint
from mri_recon.options import MaskSettings
from tests.helpers import (
    SMALL_MULTICOIL,
    copy_folder,
    error_line,
    read_volume,
    run_main,
    temp_files,
    zero_filled_by_fastmri,
)

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "reconstruct.py"


def names(folder: Path) -> list[str]:
    """The ``.h5`` file names of ``folder``, sorted."""
    return sorted(p.name for p in folder.glob("*.h5"))


def reconstruct(capsys, data: Path, out: Path, *args: str | Path) -> tuple[int, str, str]:
    return run_main(capsys, "reconstruct", "--data-path", data, "--output-path", out, *args)


def stats(folder: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime) per output: an atomic rewrite changes both."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.glob("*.h5")}


@pytest.fixture(scope="module")
def val_default(tiny_checkpoint: Path, small_multicoil: Path, tmp_path_factory) -> Path:
    """The val split (fully sampled) reconstructed with the checkpoint's own mask settings."""
    out = tmp_path_factory.mktemp("val_default") / "out"
    data = small_multicoil / "multicoil_val"
    args = ["--checkpoint", tiny_checkpoint, "--data-path", data, "--output-path", out]
    assert main(["reconstruct", *map(str, args)]) == 0
    return out


@pytest.mark.precision
def test_one_float32_volume_per_test_file_at_target_size(
    tiny_checkpoint: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    data, out = small_multicoil / "multicoil_test", tmp_path / "out"
    code, stdout, _ = reconstruct(capsys, data, out, "--checkpoint", tiny_checkpoint)
    assert code == 0
    assert f"wrote 2 reconstructions to {out}" in stdout
    assert sorted(p.name for p in out.iterdir()) == names(data)  # nothing else, no temp files
    for name in names(data):
        with h5py.File(out / name, "r") as hf:
            assert list(hf) == ["reconstruction"]
            volume = hf["reconstruction"][()]
        target = read_volume(small_multicoil / "multicoil_test_truth" / name, "reconstruction_rss")
        assert volume.dtype == np.float32 and volume.shape == target.shape == (3, 32, 32)
        assert np.isfinite(volume).all() and volume.std() > 0


@pytest.mark.parametrize("split", ["test", "val"])
def test_slice_equals_the_network_run_by_hand(
    split: str, tiny_checkpoint: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    data, out = small_multicoil / f"multicoil_{split}", tmp_path / "out"
    args = ("--checkpoint", tiny_checkpoint, "--precision", "32")  # the float32 net, by hand
    assert reconstruct(capsys, data, out, *args)[0] == 0
    loaded = load_checkpoint(tiny_checkpoint)
    record = loaded.data
    # Test files keep their stored mask; fully sampled ones get the checkpoint's, seeded per file.
    mask_func = None
    if split == "val":
        mask_func = create_mask_for_mask_type(
            record["mask_type"], record["center_fractions"], record["accelerations"]
        )
    dataset = SliceDataset(data, "multicoil", transform=UnetDataTransform("multicoil", mask_func))
    sample = dataset[4]  # second volume, middle slice
    with torch.no_grad():
        output = loaded.net(sample.image[None, None])[0, 0] * sample.std + sample.mean
    expected = output.numpy()
    got = read_volume(tmp_path / "out" / sample.fname)[sample.slice_num]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_bf16_inference_matches_float32(
    tiny_checkpoint: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    """bf16 autocast (the default where the hardware has fast bf16) keeps SSIM against the
    float32 output within 0.002 of 1, and writes float32."""
    data = small_multicoil / "multicoil_val"
    for precision in ("32", "bf16"):
        args = ("--checkpoint", tiny_checkpoint, "--precision", precision)
        assert reconstruct(capsys, data, tmp_path / precision, *args)[0] == 0
    for name in names(data):
        exact, fast = (read_volume(tmp_path / p / name) for p in ("32", "bf16"))
        assert fast.dtype == np.float32 and not np.array_equal(exact, fast)  # bf16 really ran
        assert ssim(exact, fast, maxval=float(exact.max())) >= 0.998


def test_fully_sampled_files_are_deterministic_and_use_the_checkpoint_masks(
    val_default: Path, tiny_checkpoint: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    assert load_checkpoint(tiny_checkpoint).data == {
        "challenge": "multicoil",
        "mask_type": "random",
        "center_fractions": [0.08, 0.04],
        "accelerations": [4, 8],
    }
    data = small_multicoil / "multicoil_val"
    explicit = ("--mask-type", "random", "--accelerations", "4", "8", "--center-fractions")
    runs = {
        "again": ("--checkpoint", tiny_checkpoint),
        "explicit": ("--checkpoint", tiny_checkpoint, *explicit, "0.08", "0.04"),
        "8x": ("--checkpoint", tiny_checkpoint, "--accelerations", "8"),
    }  # fmt: skip
    for name, args in runs.items():
        assert reconstruct(capsys, data, tmp_path / name, *args)[0] == 0
    for name in names(data):
        default = read_volume(val_default / name)
        np.testing.assert_array_equal(read_volume(tmp_path / "again" / name), default)
        np.testing.assert_array_equal(read_volume(tmp_path / "explicit" / name), default)
        assert np.abs(read_volume(tmp_path / "8x" / name) - default).max() > 1e-2 * default.max()


def test_mixed_folder_of_test_files_and_sizes(
    val_default: Path, tiny_checkpoint: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    """Test files (no target) and fully sampled volumes of two sizes in one folder: batches
    never mix volumes, so each comes out as when reconstructed on its own."""
    one_volume = {"num_volumes": 1, "val_fraction": 0.0, "test_fraction": 0.0}
    smaller = replace(SMALL_MULTICOIL, recon_size=48, seed=12, **one_volume)
    simulate_dataset(smaller, tmp_path / "smaller", progress=False)
    (other,) = (tmp_path / "smaller").rglob("*.h5")
    val_files = sorted((small_multicoil / "multicoil_val").glob("*.h5"))
    data = copy_folder(small_multicoil / "multicoil_test", tmp_path / "data", *val_files, other)
    out = tmp_path / "out"
    args = ("--checkpoint", tiny_checkpoint, "--batch-size", "4")
    code, stdout, err = reconstruct(capsys, data, out, *args)
    assert code == 0, err
    assert "wrote 5 reconstructions" in stdout
    assert read_volume(out / other.name).shape == (3, 48, 48)
    for file in val_files:
        expected = read_volume(val_default / file.name)
        np.testing.assert_allclose(read_volume(out / file.name), expected, rtol=1e-5, atol=1e-6)
    for name in names(small_multicoil / "multicoil_test"):
        assert read_volume(out / name).shape == (3, 32, 32)


@pytest.mark.parametrize("split", ["test", "val"])
def test_zero_filled_baseline_matches_fastmri(
    split: str, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    data, out = small_multicoil / f"multicoil_{split}", tmp_path / "out"
    mask_args = ("--accelerations", "4") if split == "val" else ()
    code, stdout, _ = reconstruct(capsys, data, out, "--baseline", "zero-filled", *mask_args)
    assert code == 0 and "wrote 2 reconstructions" in stdout
    mask_func = RandomMaskFunc([0.08], [4]) if split == "val" else None
    for name in names(data):
        expected = zero_filled_by_fastmri(data / name, mask_func)
        np.testing.assert_allclose(read_volume(out / name), expected, rtol=1e-5, atol=1e-7)


def test_zero_filled_needs_mask_settings_for_fully_sampled_files(
    small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    data, out = small_multicoil / "multicoil_val", tmp_path / "out"
    code, stdout, err = reconstruct(capsys, data, out, "--baseline", "zero-filled")
    line = error_line(err, "reconstruct")
    assert code == 2 and stdout == ""
    assert str(data / names(data)[0]) in line and "--accelerations" in line
    assert not out.exists()


def test_resume_skips_existing_outputs_and_overwrite_rewrites_them(
    tiny_checkpoint: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    data, out = small_multicoil / "multicoil_test", tmp_path / "out"
    first, second = names(data)
    assert reconstruct(capsys, data, out, "--checkpoint", tiny_checkpoint)[0] == 0
    before = stats(out)
    volumes = {name: read_volume(out / name) for name in before}

    code, stdout, _ = reconstruct(capsys, data, out, "--checkpoint", tiny_checkpoint)
    assert code == 0 and "wrote 0 reconstructions" in stdout and "skipped 2" in stdout
    assert stats(out) == before

    (out / first).unlink()  # an interrupted run: one volume missing
    code, stdout, _ = reconstruct(capsys, data, out, "--checkpoint", tiny_checkpoint)
    assert code == 0 and "wrote 1 reconstruction " in stdout and "skipped 1" in stdout
    assert stats(out)[second] == before[second]
    np.testing.assert_array_equal(read_volume(out / first), volumes[first])

    middle = stats(out)
    args = ("--checkpoint", tiny_checkpoint, "--overwrite")
    code, stdout, _ = reconstruct(capsys, data, out, *args)
    assert code == 0 and "wrote 2 reconstructions" in stdout and "skipped" not in stdout
    after = stats(out)
    assert all(after[name][0] != middle[name][0] for name in after)  # new files, renamed in
    for name, volume in volumes.items():
        np.testing.assert_array_equal(read_volume(out / name), volume)
    assert temp_files(out) == []


def test_png_and_nifti_extras(
    tiny_checkpoint: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    data, out = small_multicoil / "multicoil_test", tmp_path / "out"
    args = ("--checkpoint", tiny_checkpoint, "--png", "--nifti")
    assert reconstruct(capsys, data, out, *args)[0] == 0
    stems = [Path(name).stem for name in names(data)]
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(f"{s}{ext}" for s in stems for ext in (".h5", ".nii.gz", ".png"))
    for stem in stems:
        volume = read_volume(out / f"{stem}.h5")
        with Image.open(out / f"{stem}.png") as png:
            assert png.format == "PNG" and min(png.size) >= 32
            assert np.asarray(png).std() > 0
        nifti = nibabel.load(out / f"{stem}.nii.gz").get_fdata()
        # (slices, H, W) -> (x = W, y = H flipped, z = slices), see mri_recon.nifti
        np.testing.assert_allclose(nifti, volume.transpose(2, 1, 0)[:, ::-1, :], rtol=1e-6)


def test_a_rerun_adds_missing_extras_to_finished_outputs(
    tiny_checkpoint: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    data, out = small_multicoil / "multicoil_test", tmp_path / "out"
    assert reconstruct(capsys, data, out, "--checkpoint", tiny_checkpoint)[0] == 0
    before = stats(out)
    code, stdout, _ = reconstruct(capsys, data, out, "--checkpoint", tiny_checkpoint, "--png")
    assert code == 0 and "skipped 2" in stdout
    assert stats(out) == before  # the reconstructions are untouched
    stems = [Path(name).stem for name in names(data)]
    assert sorted(p.name for p in out.glob("*.png")) == sorted(f"{s}.png" for s in stems)


def bad_checkpoint(kind: str, folder: Path, small_multicoil: Path) -> Path:
    path = folder / f"{kind}.ckpt"
    if kind == "text":
        path.write_text("not a checkpoint\n")
    elif kind == "hdf5":
        path.write_bytes((small_multicoil / "multicoil_val" / "file_sim11_0006.h5").read_bytes())
    elif kind == "foreign":
        torch.save({"a": 1}, path)
    return path


@pytest.mark.parametrize(
    ("kind", "problem"),
    [
        ("missing", "no such file"),
        ("text", "not a PyTorch checkpoint file"),
        ("hdf5", "not a PyTorch checkpoint file"),
        ("foreign", "not an mri-recon checkpoint"),
    ],
)
def test_bad_checkpoint_is_a_one_line_error(
    kind: str, problem: str, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    checkpoint = bad_checkpoint(kind, tmp_path, small_multicoil)
    out = tmp_path / "out"
    data = small_multicoil / "multicoil_test"
    code, stdout, err = reconstruct(capsys, data, out, "--checkpoint", checkpoint)
    line = error_line(err, "reconstruct")
    assert code == 2 and stdout == ""
    assert f"checkpoint {checkpoint}:" in line and problem in line
    assert not out.exists()


def test_wrong_challenge_is_a_one_line_error(
    tiny_checkpoint: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    data, out = small_multicoil / "multicoil_test", tmp_path / "out"
    args = ("--checkpoint", tiny_checkpoint, "--challenge", "singlecoil")
    code, stdout, err = reconstruct(capsys, data, out, *args)
    line = error_line(err, "reconstruct")
    assert code == 2 and stdout == ""
    assert str(tiny_checkpoint) in line and "multicoil" in line and "singlecoil" in line
    assert not out.exists()


def test_missing_or_empty_data_folder_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    for data, problem in [("missing", "does not exist"), ("empty", "holds no .h5 files")]:
        code, stdout, err = reconstruct(
            capsys, tmp_path / data, tmp_path / "out", "--baseline", "zero-filled"
        )
        line = error_line(err, "reconstruct")
        assert code == 2 and stdout == ""
        assert f"error: data-path: data folder {tmp_path / data} " in line and problem in line
    assert not (tmp_path / "out").exists()
    # Given as the output folder too, the missing data folder is still what the error names.
    missing = tmp_path / "missing"
    code, _, err = reconstruct(capsys, missing, missing, "--baseline", "zero-filled")
    line = error_line(err, "reconstruct")
    assert code == 2 and f"error: data-path: data folder {missing} does not exist" in line
    assert not missing.exists()


def test_output_inside_the_data_folder_is_refused(
    tiny_checkpoint: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    data = copy_folder(small_multicoil / "multicoil_test", tmp_path / "data")
    before = sorted(p.name for p in data.iterdir())
    for out in (data / "recon", data):
        code, stdout, err = reconstruct(capsys, data, out, "--checkpoint", tiny_checkpoint)
        line = error_line(err, "reconstruct")
        assert code == 2 and stdout == ""
        assert line.startswith(f"mri-recon reconstruct: error: output-path: {out} is inside")
    assert sorted(p.name for p in data.iterdir()) == before


@pytest.mark.slow
def test_script_runs_the_command(small_multicoil: Path, tmp_path: Path) -> None:
    data, out = small_multicoil / "multicoil_test", tmp_path / "out"
    command = [sys.executable, str(SCRIPT), "--baseline", "zero-filled", "--data-path", str(data)]
    result = subprocess.run(
        [*command, "--output-path", str(out)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert f"wrote 2 reconstructions to {out}" in result.stdout
    assert names(out) == names(data)


def test_an_image_too_small_for_the_network_names_the_file_or_is_skipped(
    tiny_checkpoint: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    config = replace(SMALL_MULTICOIL, recon_size=16, num_volumes=3, val_fraction=0.34,
                     test_fraction=0.0)  # fmt: skip
    simulate_dataset(config, tmp_path / "tiny", progress=False)
    data = tmp_path / "tiny" / "multicoil_val"
    (small,) = data.glob("*.h5")  # a simulated 16 x 16 volume
    shutil.copy(sorted((small_multicoil / "multicoil_val").glob("*.h5"))[0], data)
    args = ("reconstruct", "--checkpoint", tiny_checkpoint, "--data-path", data,
            "--output-path", tmp_path / "out")  # fmt: skip
    code, stdout, err = run_main(capsys, *args)
    line = error_line(err, "reconstruct")  # before any work: no progress bar, no output
    assert code == 2 and line.startswith(f"mri-recon reconstruct: error: {small}: Unet: image")
    assert not (tmp_path / "out").exists()
    code, stdout, err = run_main(capsys, *args, "--skip-bad-files")
    assert code == 0 and "wrote 1 reconstruction" in stdout
    assert f"skipped 1 bad input file(s):\n  {small}: Unet: image" in stdout


def test_batches_fill_up_across_volumes_and_give_the_volume_by_volume_result(
    tiny_checkpoint: Path, small_multicoil: Path
) -> None:
    """Six volumes of 3 slices in batches of 4: 4, 4, 4, 4, 2 slices, each volume whole and
    equal to its reconstruction one slice at a time."""
    mask = MaskSettings("random", [0.08, 0.04], [4, 8])
    dataset = volume_dataset(small_multicoil / "multicoil_train", "multicoil", mask)
    assert [len(batch) for batch in slice_batches(dataset, 4)] == [4, 4, 4, 4, 2]
    net = load_checkpoint(tiny_checkpoint).net
    cpu = torch.device("cpu")
    batched = {v.fname: v for v in reconstruct_volumes(net, dataset, cpu, 4, progress=False)}
    single = {v.fname: v for v in reconstruct_volumes(net, dataset, cpu, 1, progress=False)}
    assert batched.keys() == single.keys() and len(single) == 6
    for fname, volume in single.items():
        assert batched[fname].reconstruction.shape == (3, 32, 32)
        np.testing.assert_allclose(batched[fname].reconstruction, volume.reconstruction,
                                   rtol=1e-5, atol=1e-6)  # fmt: skip
        np.testing.assert_array_equal(batched[fname].zero_filled, volume.zero_filled)
