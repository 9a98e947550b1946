"""``--dicom`` through the real CLI: ``reconstruct`` and ``evaluate --checkpoint`` write one series
per volume whose pixels equal the HDF5 reconstruction; reruns keep sound series and redo unsound
ones; anything in the way, or a header DICOM cannot hold, stops the run before any work."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.dicom_checks import add_clinical_header, read_series, series_files, toolkit_problems
from tests.helpers import error_line, read_volume, run_main


def clinical_copy(source: Path, destination: Path) -> Path:
    """A copy of a data folder whose files have a clinical header (the first without geometry)."""
    shutil.copytree(source, destination)
    for k, file in enumerate(sorted(destination.glob("*.h5"))):
        add_clinical_header(file, geometry=k > 0)
    return destination


@pytest.fixture(scope="module")
def clinical_test(small_multicoil: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clinical_copy(small_multicoil / "multicoil_test", tmp_path_factory.mktemp("c") / "t")


def reconstruct(capsys, data: Path, out: Path, *args: str | Path) -> tuple[int, str, str]:
    return run_main(capsys, "reconstruct", "--data-path", data, "--output-path", out, *args)


def stats(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}  # fmt: skip


def test_reconstruct_writes_a_series_per_volume_and_resumes(
    tiny_checkpoint: Path, clinical_test: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    code, stdout, err = reconstruct(capsys, clinical_test, out, "--checkpoint", tiny_checkpoint,
                                    "--dicom", "--precision", "32")  # fmt: skip
    assert code == 0, err
    outputs = sorted(out.glob("*.h5"))
    assert len(outputs) == 2 and "wrote 2 reconstructions" in stdout
    for output in outputs:
        folder = out / f"{output.stem}_dicom"
        images, restored = read_series(folder)
        reconstruction = read_volume(output)
        assert np.abs(restored - reconstruction).max() <= 1e-4 * reconstruction.max()
        assert images[0].SeriesDescription == "U-Net last.ckpt"
        assert str(images[0].PatientName) == "Doe^Jane"
        assert toolkit_problems(folder) == []
    before = stats(out)
    code, stdout, _ = reconstruct(capsys, clinical_test, out, "--checkpoint", tiny_checkpoint,
                                  "--dicom", "--precision", "32")  # fmt: skip
    assert code == 0 and "skipped 2 that already existed" in stdout and stats(out) == before
    damaged = out / f"{outputs[0].stem}_dicom"
    (damaged / "slice002.dcm").unlink()
    code, stdout, _ = reconstruct(capsys, clinical_test, out, "--checkpoint", tiny_checkpoint,
                                  "--dicom", "--precision", "32")  # fmt: skip
    assert code == 0 and f"{damaged}: holds 2 image(s), not 3" in stdout
    assert len(series_files(damaged)) == 3
    after = stats(out)
    assert all(after[name] == stamp for name, stamp in before.items() if damaged.name not in name)


def test_zero_filled_anonymized_series(clinical_test: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    code, _, err = reconstruct(capsys, clinical_test, out, "--zero-filled", "--dicom",
                               "--anonymize")  # fmt: skip
    assert code == 0, err
    images, _ = read_series(sorted(out.glob("*_dicom"))[0])
    assert images[0].SeriesDescription == "zero-filled" and str(images[0].PatientName) == ""


def test_something_in_the_way_stops_the_run_before_any_work(
    tiny_checkpoint: Path, clinical_test: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    first = sorted(clinical_test.glob("*.h5"))[0]
    mine = out / f"{first.stem}_dicom"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine\n")
    for extra in ((), ("--overwrite",)):
        code, stdout, err = reconstruct(capsys, clinical_test, out, "--checkpoint",
                                        tiny_checkpoint, "--dicom", *extra)  # fmt: skip
        line = error_line(err, "reconstruct")
        assert code == 2 and stdout == "" and f"output-path: {mine} is a folder" in line
        assert sorted(p.name for p in out.rglob("*")) == [mine.name, "notes.txt"]


def test_bad_arguments_and_headers_are_one_line_errors(
    tiny_checkpoint: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    data = shutil.copytree(small_multicoil / "multicoil_test", tmp_path / "d")
    out = tmp_path / "o"
    code, _, err = reconstruct(capsys, data, out, "--checkpoint", tiny_checkpoint, "--anonymize")
    assert code == 2 and "anonymize: applies to the DICOM series; add --dicom" in err
    good, bad = sorted(data.glob("*.h5"))
    add_clinical_header(good)
    add_clinical_header(bad, studyDate="yesterday")
    code, stdout, err = reconstruct(capsys, data, out, "--checkpoint", tiny_checkpoint, "--dicom")
    line = error_line(err, "reconstruct")
    assert code == 2 and stdout == ""
    assert f"{bad}: ismrmrd_header studyInformation/studyDate is 'yesterday': not a date" in line
    assert not out.exists()


def test_evaluate_writes_a_series_per_volume_and_acceleration(
    tiny_checkpoint: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    data = clinical_copy(small_multicoil / "multicoil_val", tmp_path / "val")
    series = tmp_path / "series"
    code, stdout, err = run_main(
        capsys, "evaluate", "--checkpoint", tiny_checkpoint, "--data-path", data,
        "--accelerations", "4", "8", "--dicom", series, "--precision", "32",
    )  # fmt: skip
    assert code == 0, err
    stems = sorted(f.stem for f in data.glob("*.h5"))
    expected = sorted(f"{stem}_{a}x_dicom" for stem in stems for a in (4, 8))
    assert sorted(p.name for p in series.iterdir()) == expected
    assert f"wrote {len(expected)} DICOM series to {series}" in stdout
    images, restored = read_series(series / expected[0])
    assert images[0].SeriesDescription == "U-Net 4x last.ckpt" and restored.shape == (3, 32, 32)
    code, _, err = run_main(
        capsys, "evaluate", "--checkpoint", tiny_checkpoint, "--data-path", data,
        "--accelerations", "4", "8", "--dicom", series,
    )  # fmt: skip
    assert code == 2 and "dicom: " in err and "already exists (pass --overwrite" in err
