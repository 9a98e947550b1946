"""``mri-recon check-data``: one line per problem in a folder of real files, a summary, exit 1."""

import os
import re
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest

from data_prep.simulate import simulate_dataset
from tests.helpers import SMALL_MULTICOIL, copy_folder, run_main


def edit(path: Path, key: str, change) -> None:
    """Replaces dataset ``key`` of ``path`` by ``change(old value)``."""
    with h5py.File(path, "a") as hf:
        value = change(hf[key][()])
        del hf[key]
        hf.create_dataset(key, data=value)


def with_nan(index: tuple):
    def change(array: np.ndarray) -> np.ndarray:
        array[index] = np.nan
        return array

    return change


def test_a_sound_data_root_passes(small_multicoil: Path, capsys) -> None:
    code, stdout, _ = run_main(capsys, "check-data", small_multicoil)
    assert code == 0
    lines = stdout.strip().splitlines()
    assert lines[-1] == "no problems"
    train = small_multicoil / "multicoil_train"
    assert f"{train}: 6 files, 18 slices, multicoil, any batch size" in lines
    assert len(lines) == 5  # one summary per split folder, then the verdict


def test_every_problem_gets_one_line(small_multicoil: Path, tmp_path: Path, capsys) -> None:
    folder = copy_folder(small_multicoil / "multicoil_train", tmp_path / "data")
    files = sorted(folder.glob("*.h5"))
    edit(files[0], "kspace", with_nan((1, 2, 3, 4)))
    edit(files[1], "reconstruction_rss", with_nan((2, 0, 0)))
    edit(files[2], "reconstruction_rss", lambda target: target[:, 1:-1, 1:-1])
    edit(files[3], "kspace", lambda kspace: kspace[..., :0])
    edit(files[4], "ismrmrd_header", lambda xml: re.sub(
        rb"(<reconSpace><matrixSize><x>)\d+", rb"\g<1>0", xml))  # fmt: skip
    (folder / f"._{files[5].name}").write_bytes(b"\x00\x05\x16\x07")
    (folder / "copy.H5").write_bytes(files[5].read_bytes())
    (folder / "gone.h5").symlink_to(tmp_path / "elsewhere.h5")
    (folder / "nested.h5").mkdir()
    os.mkfifo(folder / "pipe.h5")  # never opened: a read would wait for a writer forever
    other = tmp_path / "other"
    simulate_dataset(replace(SMALL_MULTICOIL, recon_size=16, num_volumes=1, val_fraction=0,
                             test_fraction=0), other, progress=False)  # fmt: skip
    (smaller,) = (other / "multicoil_train").glob("*.h5")
    smaller.rename(folder / "smaller.h5")

    code, stdout, _ = run_main(capsys, "check-data", folder)
    assert code == 1
    lines = stdout.strip().splitlines()
    expected = [
        f"{files[0]}: slice 1: 'kspace' holds NaN or infinite values",
        f"{files[1]}: slice 2: 'reconstruction_rss' holds NaN or infinite values",
        f"{files[2]}: the target is 30x30 but the header's recon size is 32x32",
        f"{files[3]}: 'kspace' has 0 columns: shape (3, 4, 64, 0)",
        f"{files[4]}: ismrmrd_header encoding/reconSpace/matrixSize is 0 x 32: sizes must be "
        "positive",
        f"{folder / ('._' + files[5].name)}: macOS metadata file (not data), ignored",
        f"{folder / 'copy.H5'}: only .h5 files are read; rename it to read it",
        f"{folder / 'gone.h5'}: broken symbolic link to {tmp_path / 'elsewhere.h5'}",
        f"{folder / 'nested.h5'}: a folder, not a file, ignored",
        f"{folder / 'pipe.h5'}: not a regular file (a pipe or a device), ignored",
    ]
    for line in expected:
        assert line in lines, line
    assert re.search(r"mixed image sizes 16x16 \(1 files\), 32x32 \(\d files\): batch size 1 only",
                     stdout)  # fmt: skip
    assert lines[-1] == f"{len(expected)} problem(s) in {len(expected)} file(s)"


def test_mask_settings_are_checked_against_each_width(small_multicoil: Path, capsys) -> None:
    folder = small_multicoil / "multicoil_val"
    code, stdout, _ = run_main(capsys, "check-data", folder, "--mask-type",
                               "equispaced_fraction", "--accelerations", "16",
                               "--center-fractions", "0.06")  # fmt: skip
    assert code == 1
    problems = [line for line in stdout.splitlines() if "center_fractions" in line]
    assert len(problems) == 2 and "32 columns wide (this file)" in problems[0]


def test_help_speaks_of_the_checks_it_makes(capsys) -> None:
    """check-data takes no checkpoint: its mask options say what they are checked against."""
    with pytest.raises(SystemExit):
        run_main(capsys, "check-data", "--help")
    text = capsys.readouterr().out
    assert "check against each k-space width" in text and "checkpoint" not in text
