"""``python -m data_prep``: a run, every bad argument, refusing and allowing overwrites.

Each interpreter start costs seconds (torch, fastmri and Lightning imports), so every bad-argument
case runs in-process through ``main`` and a representative few also through ``subprocess``.
"""

import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from data_prep.cli import main

TINY_ARGS = ["--recon-size", "16", "--num-volumes", "3", "--slices-per-volume", "2", "--quiet"]


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "data_prep", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=300)
    return process.returncode, stdout, stderr


def simulate_args(source: str, output: Path, *extra: str) -> list[str]:
    return ["simulate", "--source", source, "--output", str(output), *extra]


CASES = (
    "unknown source",
    "missing file",
    "recon size",
    "no coils",
    "singlecoil coils",
    "unreadable nifti",
    "unreadable npy",
    "bad challenge",
    "output is a file",
)


def bad_cases(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """Argument lists that must fail, with the text their one-line error must contain."""
    (tmp_path / "broken.nii").write_bytes(b"not a nifti file")
    (tmp_path / "broken.npy").write_bytes(b"not an array")
    (tmp_path / "afile").write_text("")
    out = tmp_path / "out"
    multicoil = ["--challenge", "multicoil", *TINY_ARGS]
    return {
        "unknown source": (simulate_args("shepp", out, *multicoil), "--source shepp"),
        "missing file": (
            simulate_args(str(tmp_path / "missing.npy"), out, *multicoil),
            "no such file",
        ),
        "recon size": (
            simulate_args("phantom", out, "--challenge", "multicoil", "--recon-size", "8"),
            "--recon-size",
        ),
        "no coils": (simulate_args("phantom", out, *multicoil, "--coils", "0"), "--coils"),
        "singlecoil coils": (
            simulate_args("phantom", out, "--challenge", "singlecoil", "--coils", "4", *TINY_ARGS),
            "--coils",
        ),
        "unreadable nifti": (
            simulate_args(str(tmp_path / "broken.nii"), out, *multicoil),
            "not a readable NIfTI",
        ),
        "unreadable npy": (
            simulate_args(str(tmp_path / "broken.npy"), out, *multicoil),
            "not a readable .npy",
        ),
        "output is a file": (
            simulate_args("phantom", tmp_path / "afile", *multicoil),
            "is not a folder",
        ),
        "bad challenge": (
            simulate_args("phantom", out, "--challenge", "triplecoil", *TINY_ARGS),
            "--challenge",
        ),
    }


@pytest.mark.parametrize("case", list(CASES))
def test_bad_arguments_give_one_line_and_exit_2(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args, expected = bad_cases(tmp_path)[case]
    try:
        code = main(args)
    except SystemExit as exit:  # argparse's own errors leave through SystemExit
        code = exit.code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1 and "error:" in lines[0] and expected in lines[0]
    assert captured.out == "" and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_cli_runs_refuses_bad_arguments_and_protects_output(tmp_path: Path) -> None:
    output = tmp_path / "data"
    args = simulate_args("phantom", output, "--challenge", "multicoil", *TINY_ARGS)
    good = start(*args)
    # Two bad cases side by side with the good run: one from argparse, one from the source check.
    cases = bad_cases(tmp_path)
    running = {name: start(*cases[name][0]) for name in ("bad challenge", "unreadable nifti")}

    code, stdout, stderr = finish(good)
    assert code == 0, stderr
    assert "wrote 4 files" in stdout and "multicoil_test_truth/" in stdout
    with h5py.File(next((output / "multicoil_train").glob("*.h5"))) as hf:
        assert hf["kspace"].shape == (2, 8, 32, 16) and hf["reconstruction_rss"].shape == (
            2,
            16,
            16,
        )

    for name, process in running.items():
        code, stdout, stderr = finish(process)
        lines = stderr.strip().splitlines()
        assert code == 2 and len(lines) == 1 and cases[name][1] in lines[0], (name, stderr)
        assert "Traceback" not in stderr and stdout == ""
    assert not (tmp_path / "out").exists()

    # A second run into the same folder is refused and leaves the files alone ...
    before = {p: p.stat().st_mtime_ns for p in output.rglob("*.h5")}
    code, _, stderr = finish(start(*args))
    assert code == 2 and "already holds .h5 files" in stderr and "--overwrite" in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert {p: p.stat().st_mtime_ns for p in output.rglob("*.h5")} == before

    # ... unless --overwrite is given.
    code, stdout, stderr = finish(start(*args, "--overwrite", "--seed", "3"))
    assert code == 0, stderr
    files = sorted(output.rglob("*.h5"))
    assert len(files) == 4 and all(p.stat().st_mtime_ns != before.get(p) for p in files)
    with h5py.File(next((output / "multicoil_test").glob("*.h5"))) as hf:
        assert hf["mask"].dtype == bool and hf.attrs["acceleration"] == 4
