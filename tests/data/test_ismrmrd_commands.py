"""``mri-recon check-data`` and ``mri-recon reconstruct`` on folders of ISMRMRD raw files, through
the real command line: the same results as on the converted files, and bad raw files named."""

import os
from pathlib import Path

import ismrmrd
import numpy as np
import pytest

from data_prep.convert import convert_raw_files
from mri_recon.data.ismrmrd_plan import ConversionOptions
from tests.data.ismrmrd_scans import every_fourth, simulated_kspace, write_scan
from tests.helpers import error_line, read_volume, run_main


@pytest.fixture(scope="module")
def raw_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Multicoil raw scans, fully sampled and undersampled, single- and multi-slice."""
    folder = tmp_path_factory.mktemp("raw")
    write_scan(folder / "full.h5", simulated_kspace())
    write_scan(folder / "under.h5", simulated_kspace(index=1), mask=every_fourth())
    write_scan(folder / "one_slice.h5", simulated_kspace(index=2)[:1])
    write_scan(folder / "one_slice_under.h5", simulated_kspace(index=3)[:1], mask=every_fourth())
    return folder


@pytest.fixture(scope="module")
def converted_folder(raw_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("converted") / "data"
    convert_raw_files([raw_folder], folder, ConversionOptions(), progress=False)
    return folder


def linked_folder(raw_folder: Path, folder: Path) -> Path:
    """A folder holding (hard links to) the raw scans, for a test to add files to."""
    folder.mkdir()
    for path in raw_folder.iterdir():
        os.link(path, folder / path.name)
    return folder


def reversed_line(acquisition, index):
    if index == 3:
        acquisition.set_flag(ismrmrd.ACQ_IS_REVERSE)
    return acquisition


def test_check_data_passes_sound_raw_files_and_names_bad_ones(raw_folder, tmp_path, capsys):
    code, stdout, _ = run_main(capsys, "check-data", raw_folder)
    assert code == 0
    assert stdout.splitlines() == [
        f"{raw_folder}: 4 files, 6 slices, multicoil, any batch size",
        "no problems",
    ]
    folder = linked_folder(raw_folder, tmp_path / "raw")
    write_scan(folder / "epi.h5", simulated_kspace(), edit_line=reversed_line)
    (folder / "empty.h5").write_bytes(b"")
    code, stdout, _ = run_main(capsys, "check-data", folder)
    assert code == 1
    assert f"{folder / 'epi.h5'}: ISMRMRD: EPI (lines read in reverse) not supported" in stdout
    assert f"{folder / 'empty.h5'}: not a readable HDF5 file" in stdout
    assert stdout.splitlines()[-1] == "2 problem(s) in 2 file(s)"


@pytest.mark.parametrize("method", ["--zero-filled", "--checkpoint"])
def test_reconstruct_on_raw_files_equals_reconstruct_on_converted_files(
    method, raw_folder, converted_folder, tiny_checkpoint, tmp_path, capsys
) -> None:
    chosen = ("--zero-filled",) if method == "--zero-filled" else ("--checkpoint", tiny_checkpoint)
    outputs = {}
    for name, folder in (("raw", raw_folder), ("converted", converted_folder)):
        outputs[name] = tmp_path / name
        args = ("reconstruct", *chosen, "--data-path", folder, "--output-path", outputs[name])
        code, stdout, _ = run_main(capsys, *args, "--accelerations", "4", "--accelerator", "cpu")
        assert code == 0, stdout
        assert stdout.startswith(f"wrote 4 reconstructions to {outputs[name]}")
    for path in sorted(outputs["raw"].glob("*.h5")):
        reconstruction = read_volume(path)
        assert reconstruction.shape == ((1 if "one_slice" in path.name else 2), 32, 32)
        np.testing.assert_array_equal(reconstruction, read_volume(outputs["converted"] / path.name))


def test_reconstruct_stops_on_a_bad_raw_file_before_writing(raw_folder, tmp_path, capsys) -> None:
    folder = linked_folder(raw_folder, tmp_path / "raw")
    write_scan(folder / "epi.h5", simulated_kspace(), edit_line=reversed_line)
    out = tmp_path / "out"
    args = ("reconstruct", "--zero-filled", "--data-path", folder, "--output-path", out)
    code, _, err = run_main(capsys, *args, "--accelerations", "4")
    assert code == 2
    assert error_line(err, "reconstruct").endswith(
        f"{folder / 'epi.h5'}: ISMRMRD: EPI (lines read in reverse) not supported: acquisition 3"
    )
    assert not out.exists() or not any(out.iterdir())
    code, stdout, _ = run_main(capsys, *args, "--accelerations", "4", "--skip-bad-files")
    assert code == 0
    assert sorted(path.name for path in out.glob("*.h5")) == sorted(
        path.name for path in raw_folder.glob("*.h5")
    )
    assert "skipped 1 bad input file(s)" in stdout
