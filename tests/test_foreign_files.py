"""No command, with or without ``--overwrite``, changes a byte of a file it did not write.

Each command that writes into a folder or file the user names is pointed at files of other
programs (fastMRI-layout data files, a user's notes, files of another kind of mri-recon output):
it stops before any work with one line naming the file in the way, and every byte is as before.
"""

import shutil
from pathlib import Path

import h5py
import pytest
import torch

from data_prep.cli import main as data_prep_main
from tests.helpers import error_line, run_main


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def strip_marks(folder: Path) -> None:
    """Makes the ``.h5`` files of ``folder`` like fastMRI's own: no mri-recon attributes."""
    for file in folder.glob("*.h5"):
        with h5py.File(file, "a") as hf:
            for key in ("written_by", "source"):
                hf.attrs.pop(key, None)


@pytest.fixture
def truth_folder(small_multicoil: Path, tmp_path: Path) -> Path:
    """The fully sampled truth of the test split, under the test files' names: half as fastMRI
    writes its files (no mark), half as data_prep simulated them (a dataset's mark)."""
    truth = shutil.copytree(small_multicoil / "multicoil_test_truth", tmp_path / "truth")
    first = sorted(truth.glob("*.h5"))[0]
    with h5py.File(first, "a") as hf:
        del hf.attrs["written_by"]
    return truth


@pytest.mark.parametrize("extra", [(), ("--overwrite",), ("--png", "--nifti", "--overwrite")])
def test_reconstruct_into_a_folder_of_truth_files_changes_no_byte(
    extra: tuple[str, ...], tiny_checkpoint: Path, small_multicoil: Path, truth_folder: Path, capsys
) -> None:
    before = snapshot(truth_folder)
    code, stdout, err = run_main(
        capsys, "reconstruct", "--checkpoint", tiny_checkpoint,
        "--data-path", small_multicoil / "multicoil_test", "--output-path", truth_folder, *extra,
    )  # fmt: skip
    line = error_line(err, "reconstruct")
    assert code == 2 and stdout == ""
    first = sorted(truth_folder.glob("*.h5"))[0]
    assert f"output-path: {first} was not written by mri-recon as a reconstruction" in line
    assert "(and 1 more file(s) in the way)" in line
    assert snapshot(truth_folder) == before


def test_reconstruct_never_takes_a_users_preview_for_its_own(
    small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    args = ("reconstruct", "--baseline", "zero-filled", "--data-path",
            small_multicoil / "multicoil_test", "--output-path", out)  # fmt: skip
    assert run_main(capsys, *args)[0] == 0
    first = sorted(out.glob("*.h5"))[0]
    notes = first.with_suffix(".png")
    notes.write_bytes(b"\x89PNG my own drawing")
    before = snapshot(out)
    code, stdout, err = run_main(capsys, *args, "--png")
    assert code == 2 and f"{notes} was not written by mri-recon as a preview" in err
    assert snapshot(out) == before


@pytest.mark.parametrize("overwrite", [False, True])
def test_evaluate_never_replaces_a_report_or_figure_it_did_not_write(
    overwrite: bool, tiny_checkpoint: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    data = small_multicoil / "multicoil_val"
    report = tmp_path / "report.json"
    report.write_text('{"my": "numbers"}')
    figures = tmp_path / "figures"
    figures.mkdir()
    name = sorted(data.glob("*.h5"))[0].stem
    (figures / f"{name}_4x.png").write_bytes(b"\x89PNG mine")
    flag = ("--overwrite",) if overwrite else ()
    base = ("evaluate", "--checkpoint", tiny_checkpoint, "--data-path", data)
    before = snapshot(tmp_path)
    code, stdout, err = run_main(capsys, *base, "--output", report, *flag)
    line = error_line(err, "evaluate")
    assert code == 2 and stdout == "" and "was not written by mri-recon as a report" in line
    code, stdout, err = run_main(capsys, *base, "--figures", figures, *flag)
    line = error_line(err, "evaluate")
    assert code == 2 and stdout == "" and f"figures: {figures / name}_4x.png" in line
    assert snapshot(tmp_path) == before


def test_demo_stops_before_any_work_on_a_file_it_did_not_write(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    out.mkdir()
    (out / "report.json").write_text("{}")
    before = snapshot(out)
    for extra in ((), ("--overwrite",)):
        code, stdout, err = run_main(capsys, "demo", "--output-dir", out, *extra)
        line = error_line(err, "demo")
        assert code == 2 and "[1/3]" not in stdout
        assert f"{out / 'report.json'} was not written by mri-recon as a report" in line
        assert snapshot(out) == before and sorted(out.iterdir()) == [out / "report.json"]


def test_demo_overwrite_deletes_only_its_own_checkpoints(tmp_path: Path, capsys) -> None:
    checkpoints = tmp_path / "demo" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save({"state_dict": {}}, checkpoints / "other.ckpt")  # another program's checkpoint
    before = snapshot(tmp_path)
    code, _, err = run_main(capsys, "demo", "--output-dir", tmp_path / "demo", "--overwrite")
    assert code == 2 and "other.ckpt was not written by mri-recon as a checkpoint" in err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("extra", [(), ("--overwrite",)])
def test_study_never_replaces_a_file_it_did_not_write(
    extra: tuple[str, ...], tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no demo data here: the output folder is checked first
    out = tmp_path / "study"
    out.mkdir()
    (out / "optimizers.json").write_text("{}")
    before = snapshot(tmp_path)
    code, stdout, err = run_main(capsys, "study", "optimizers", "--output-dir", out, *extra)
    line = error_line(err, "study")
    assert code == 2 and stdout == "" and "was not written by mri-recon as a study" in line
    assert snapshot(tmp_path) == before and sorted(tmp_path.iterdir()) == [out]


@pytest.mark.parametrize("kind", ["parent is a file", "a folder", "foreign file"])
def test_benchmark_checks_its_json_before_timing_anything(
    kind: str, tmp_path: Path, capsys
) -> None:
    path = {
        "parent is a file": tmp_path / "notes.txt" / "b.json",
        "a folder": tmp_path,
        "foreign file": tmp_path / "b.json",
    }[kind]
    (tmp_path / "notes.txt").write_text("mine")
    if kind == "foreign file":
        path.write_text('{"written_by": "another tool"}')
    before = snapshot(tmp_path)
    code, stdout, err = run_main(capsys, "benchmark", "--json", path, "--overwrite")
    line = error_line(err, "benchmark")
    assert (
        code == 2 and stdout == "" and line.startswith(f"mri-recon benchmark: error: json: {path}")
    )
    assert snapshot(tmp_path) == before


def test_fit_never_replaces_a_last_checkpoint_it_did_not_write(
    small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    (checkpoints / "last.ckpt").write_bytes(b"someone's model")
    before = snapshot(checkpoints)
    code, _, err = run_main(
        capsys, "fit", "--config", "demo", "--data.data_path", small_multicoil,
        "--data.num_workers", "0", "--trainer.accelerator", "cpu", "--trainer.max_epochs", "1",
        "--trainer.default_root_dir", tmp_path, "--trainer.enable_progress_bar", "false",
    )  # fmt: skip
    assert code == 2
    assert f"checkpoint.dirpath: {checkpoints / 'last.ckpt'} was not written by mri-recon" in err
    assert snapshot(checkpoints) == before
    assert not list(checkpoints.glob("epoch*"))


def test_simulate_never_replaces_or_removes_a_file_it_did_not_write(tmp_path: Path, capsys) -> None:
    args = ["simulate", "--source", "phantom", "--output", str(tmp_path / "sim"),
            "--challenge", "singlecoil", "--recon-size", "16", "--num-volumes", "3",
            "--slices-per-volume", "1", "--quiet"]  # fmt: skip
    assert data_prep_main(args) == 0
    train = tmp_path / "sim" / "singlecoil_train"
    theirs = train / "real_scan.h5"
    with h5py.File(theirs, "w") as hf:  # a fastMRI file of someone else's, among ours
        hf.create_dataset("kspace", data=[[0j]])
    before = snapshot(tmp_path)
    assert data_prep_main([*args, "--overwrite"]) == 2
    assert f"{theirs} was not written by mri-recon as a dataset" in capsys.readouterr().err
    assert snapshot(tmp_path) == before
    theirs.unlink()
    assert data_prep_main([*args, "--overwrite"]) == 0  # its own files: replaced
