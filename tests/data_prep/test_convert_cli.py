"""``python -m data_prep convert``: ISMRMRD raw files in, fastMRI files out, through the real CLI;
every bad input is one line, exit status 2, and nothing written."""

import subprocess
import sys
from pathlib import Path

import h5py
import ismrmrd
import numpy as np
import pytest

from data_prep.cli import main
from mri_recon.data.fastmri_file import DATASET
from mri_recon.data.file_check import read_volume_info
from mri_recon.data.marks import is_ours
from tests.data.ismrmrd_scans import every_fourth, simulated_kspace, write_scan


@pytest.fixture(scope="module")
def raw_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two multicoil raw scans: fully sampled (with a second repetition and noise scans) and
    undersampled."""
    folder = tmp_path_factory.mktemp("raw")
    kspace = simulated_kspace()
    noise = np.random.default_rng(0).standard_normal((8, 4, 64)).astype(np.complex64)
    later = (kspace * 0.5).astype(np.complex64)
    write_scan(folder / "full.h5", kspace, repetitions=[later], noise=noise)
    write_scan(folder / "under.h5", simulated_kspace(index=1), mask=every_fourth())
    return folder


def convert(capsys: pytest.CaptureFixture, *args: str | Path) -> tuple[int, str, str]:
    code = main(["convert", *map(str, args), "--quiet"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m data_prep convert: error: "), err
    return lines[0]


@pytest.mark.slow  # a new process that imports torch
def test_python_m_data_prep_convert_writes_marked_fastmri_files(raw_folder, tmp_path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "data_prep", "convert", str(raw_folder), "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:3] == [
        f"wrote 2 fastMRI files to {out}",
        "  full.h5: multicoil k-space 2 x 4 x 64 x 40, fully sampled, target 32 x 32",
        "  under.h5: multicoil k-space 2 x 4 x 64 x 40, undersampled 3x "
        "(12 lines, 4 at the centre)",
    ]
    for name in ("full.h5", "under.h5"):
        path = out / name
        assert is_ours(path, DATASET)
        read_volume_info(path, "multicoil")
        with h5py.File(path, "r") as hf:
            assert hf.attrs["source"] == str((raw_folder / name).resolve())
            assert hf["slice_geometry"].shape == (2, 12)
    with h5py.File(out / "full.h5", "r") as hf:
        np.testing.assert_array_equal(hf["kspace"][()], simulated_kspace())
        assert hf.attrs["ismrmrd_repetition"] == 0


def test_counters_are_chosen_or_separated_and_coils_whitened(raw_folder, tmp_path, capsys):
    code, stdout, _ = convert(capsys, raw_folder / "full.h5", "--output", tmp_path / "rep1",
                              "--repetition", "1", "--prewhiten")  # fmt: skip
    assert code == 0, stdout
    with h5py.File(tmp_path / "rep1" / "full.h5", "r") as hf:
        assert hf.attrs["ismrmrd_repetition"] == 1 and hf.attrs["prewhitened"]
    out = tmp_path / "apart"
    code, stdout, _ = convert(capsys, raw_folder, "--output", out, "--separate", "repetition")
    assert code == 0
    names = ["full_repetition0.h5", "full_repetition1.h5", "under_repetition0.h5"]
    assert sorted(path.name for path in out.iterdir()) == names


def reversed_line(acquisition, index):
    if index == 0:
        acquisition.set_flag(ismrmrd.ACQ_IS_REVERSE)
    return acquisition


def test_an_unsupported_file_stops_the_run_before_anything_is_written(
    raw_folder, tmp_path, capsys
) -> None:
    (tmp_path / "more").mkdir()
    epi = write_scan(tmp_path / "more" / "epi.h5", simulated_kspace(), edit_line=reversed_line)
    out = tmp_path / "out"
    code, stdout, err = convert(capsys, raw_folder, epi, "--output", out)
    assert code == 2 and stdout == ""
    assert one_error(err).endswith(
        f"{epi}: EPI (lines read in reverse) not supported: acquisition 0"
    )
    assert not out.exists()


def test_bad_inputs_and_outputs_get_one_line(raw_folder, tmp_path, capsys) -> None:
    fastmri_file = tmp_path / "inputs" / "fastmri.h5"
    fastmri_file.parent.mkdir()
    with h5py.File(fastmri_file, "w") as hf:
        hf["kspace"] = np.zeros((1, 4, 4), np.complex64)
    other = tmp_path / "other"
    other.mkdir()
    (other / "full.h5").write_bytes((raw_folder / "full.h5").read_bytes())
    out = tmp_path / "out"
    cases = {
        "missing": ([tmp_path / "missing.h5"], out, "RAW: " + str(tmp_path / "missing.h5")),
        "fastmri": ([fastmri_file], out, f"{fastmri_file}: not an ISMRMRD file (no 'dataset'"),
        "inside input": ([raw_folder], raw_folder / "out", "is inside the input folder"),
        "same name": ([raw_folder, other], out, f"both convert to {out / 'full.h5'}"),
        "bad repetition": ([raw_folder], out, "--repetition 3: the scan has repetition [0, 1]"),
    }
    for name, (inputs, output, reason) in cases.items():
        extra = ("--repetition", "3") if name == "bad repetition" else ()
        code, _, err = convert(capsys, *inputs, "--output", output, *extra)
        assert code == 2 and reason in one_error(err), (name, err)
    assert not out.exists() and not (raw_folder / "out").exists()


def test_outputs_are_replaced_only_when_asked_and_only_when_ours(raw_folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert convert(capsys, raw_folder, "--output", out)[0] == 0
    before = (out / "full.h5").stat().st_mtime_ns
    code, _, err = convert(capsys, raw_folder, "--output", out)
    assert code == 2 and "already exists (pass --overwrite" in one_error(err)
    assert convert(capsys, raw_folder, "--output", out, "--overwrite")[0] == 0
    assert (out / "full.h5").stat().st_mtime_ns != before
    (out / "under.h5").unlink()
    (out / "under.h5").write_bytes(b"someone else's file")
    code, _, err = convert(capsys, raw_folder, "--output", out, "--overwrite")
    assert code == 2 and "was not written by mri-recon" in one_error(err)
    assert (out / "under.h5").read_bytes() == b"someone else's file"
