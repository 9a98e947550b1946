"""One set of file checks: what ``check-data`` reports, ``fit``, ``reconstruct`` and ``evaluate``
refuse in one line naming the file (exit 2), or skip and list with ``--skip-bad-files``."""

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import pytest

from tests.helpers import error_line, run_main


def header_of_another_scan(path: Path) -> str:
    """An ismrmrd_header whose matrices are fastMRI knee's (640 x 368, recon 320 x 320), not the
    k-space's; returns the problem every command must name."""
    with h5py.File(path, "a") as hf:
        xml = hf["ismrmrd_header"][()].decode()
        for space, (x, y) in (("encodedSpace", (640, 368)), ("reconSpace", (320, 320))):
            pattern = f"(<{space}><matrixSize><x>)\\d+(</x><y>)\\d+"
            xml = re.sub(pattern, f"\\g<1>{x}\\g<2>{y}", xml)
        del hf["ismrmrd_header"]
        hf["ismrmrd_header"] = xml.encode()
    return "the header's encoded matrix is 368 columns wide but 'kspace' has 32"


def absurd_max(path: Path) -> str:
    with h5py.File(path, "a") as hf:
        hf.attrs["max"] = 1e308
    return "attribute 'max' must be a finite number in [0.0, 3.4e+38], got 1e+308"


DAMAGE: dict[str, Callable[[Path], str]] = {"header": header_of_another_scan, "max": absurd_max}


@pytest.fixture(params=sorted(DAMAGE))
def bad_root(request, small_multicoil: Path, tmp_path: Path) -> tuple[Path, Path, str]:
    """A copy of the small data root whose first val file is damaged: (root, file, problem)."""
    root = tmp_path / "data"
    for split in ("train", "val"):
        shutil.copytree(small_multicoil / f"multicoil_{split}", root / f"multicoil_{split}")
    bad = sorted((root / "multicoil_val").glob("*.h5"))[0]
    return root, bad, DAMAGE[request.param](bad)


def test_check_data_reports_it(bad_root: tuple[Path, Path, str], capsys) -> None:
    root, bad, problem = bad_root
    code, stdout, _ = run_main(capsys, "check-data", root)
    assert code == 1 and f"{bad}: {problem}" in stdout


def test_reconstruct_refuses_or_skips_it(
    bad_root: tuple[Path, Path, str], tiny_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    root, bad, problem = bad_root
    out = tmp_path / "out"
    args = ("reconstruct", "--checkpoint", tiny_checkpoint, "--data-path", root / "multicoil_val",
            "--output-path", out)  # fmt: skip
    code, stdout, err = run_main(capsys, *args)
    assert code == 2 and stdout == "" and f"{bad}: {problem}" in error_line(err, "reconstruct")
    assert not out.exists()
    code, stdout, _ = run_main(capsys, *args, "--skip-bad-files")
    assert code == 0 and "wrote 1 reconstruction" in stdout
    assert f"skipped 1 bad input file(s):\n  {bad}: {problem}" in stdout


def test_evaluate_refuses_or_skips_it(
    bad_root: tuple[Path, Path, str], tiny_checkpoint: Path, capsys
) -> None:
    root, bad, problem = bad_root
    args = ("evaluate", "--checkpoint", tiny_checkpoint, "--data-path", root / "multicoil_val")
    code, stdout, err = run_main(capsys, *args)
    assert code == 2 and stdout == "" and f"{bad}: {problem}" in error_line(err, "evaluate")
    code, stdout, _ = run_main(capsys, *args, "--skip-bad-files")
    assert code == 0 and f"{bad}: {problem}" in stdout.split("failed 1:")[1]


@pytest.mark.slow
def test_fit_refuses_or_skips_it(bad_root: tuple[Path, Path, str], tmp_path: Path, capsys) -> None:
    root, bad, problem = bad_root
    args = ("fit", "--config", "demo", "--data.data_path", root, "--data.num_workers", "0",
            "--model.net.init_args.chans", "4", "--trainer.max_epochs", "1",
            "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false",
            "--trainer.default_root_dir", tmp_path / "run")  # fmt: skip
    code, _, err = run_main(capsys, *args)
    assert code == 2 and f"{bad}: {problem}" in error_line(err, "fit")
    code, _, err = run_main(capsys, *args, "--data.skip_bad_files", "true")
    assert code == 0 and f"  {bad}: {problem}" in err
