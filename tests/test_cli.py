"""The ``mri-recon`` console script, run as a user runs it."""

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from mri_recon.cli import NOISE, _show_warning, main, one_line

CLI = [sys.executable, "-m", "mri_recon.cli"]
ROOT = Path(__file__).resolve().parents[1]  # this checkout, whatever is installed


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python -c CODE`` in a new process importing this checkout's mri_recon, with Python's
    own warning filters (no ``PYTHONWARNINGS``)."""
    checkout = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": checkout}
    env.pop("PYTHONWARNINGS", None)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env=env)  # fmt: skip


def test_demo_into_a_file_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    assert main(["demo", "--output-dir", str(blocker)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("mri-recon demo: error:") and "taken" in error
    assert len(error.splitlines()) == 1
    assert blocker.read_text() == "not a folder"


def test_unknown_command_exits_with_usage(tmp_path: Path) -> None:
    result = run("no-such-command", cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_help_lists_every_command(tmp_path: Path) -> None:
    """Each command is an entry of --help's command list (a word in a description is not)."""
    result = run("--help", cwd=tmp_path)
    assert result.returncode == 0
    listed = re.findall(r"^    (\S+)", result.stdout, flags=re.MULTILINE)
    expected = ["fit", "validate", "test", "reconstruct", "evaluate", "import-weights",
                "check-data", "demo", "study", "benchmark"]  # fmt: skip
    assert listed == expected


@pytest.mark.slow
def test_fit_help_comes_from_lightning_cli(tmp_path: Path) -> None:
    result = run("fit", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for option in ("--model.net", "--model.optimizer", "--data.data_path", "--checkpoint.monitor"):
        assert option in result.stdout


@pytest.mark.slow
def test_fit_without_a_data_path_names_it(tmp_path: Path) -> None:
    config = Path(__file__).resolve().parents[1] / "configs" / "unet_knee_singlecoil.yaml"
    result = run("fit", "--config", str(config), cwd=tmp_path)
    assert result.returncode != 0
    assert "data_path" in result.stderr
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.slow
def test_fit_on_a_missing_folder_is_a_one_line_error(tmp_path: Path) -> None:
    config = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
    result = run("fit", "--config", str(config), "--data.data_path", "missing", cwd=tmp_path)
    assert result.returncode == 2
    error = "mri-recon fit: error: data_path: missing is not a folder"
    assert result.stderr.strip().splitlines()[-1] == error  # after Lightning's "Seed set to 42"
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_train_script_defaults_to_fit(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[1] / "scripts" / "train.py"
    result = subprocess.run(
        [sys.executable, str(script), "--help"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "--model.net" in result.stdout and "--ckpt_path" in result.stdout


class FailingSlices(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int):
        raise ValueError("batch_size: a batch mixes image sizes")


def test_errors_from_loader_workers_come_out_on_one_line() -> None:
    loader = torch.utils.data.DataLoader(FailingSlices(), num_workers=1)
    with pytest.raises(ValueError) as caught:
        next(iter(loader))
    assert "Original Traceback" in str(caught.value)  # torch's wrapping, seen by the CLI
    assert one_line(caught.value) == "batch_size: a batch mixes image sizes"
    assert one_line(ValueError("first\nsecond")) == "first second"


def test_a_warning_is_one_line(capsys) -> None:
    """Some libraries start a warning's message with a newline and indent it (jsonargparse)."""
    _show_warning("fit", UserWarning("\n    first part\n    second part\n"), UserWarning)
    assert capsys.readouterr().err == "mri-recon fit: warning: first part second part\n"


def test_inductors_complex_operator_warning_is_noise() -> None:
    """Compiling a VarNet makes inductor warn that its FFTs may run slower than eager; measured,
    the compiled VarNet is faster, so the commands do not show it (the real warning, emitted by
    torch's own function without its once-per-process cache)."""
    from torch._inductor.lowering import _warn_complex_not_supported

    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        _warn_complex_not_supported.__wrapped__()
        for message in NOISE:  # as main() sets them
            warnings.filterwarnings("ignore", message=message)
        _warn_complex_not_supported.__wrapped__()
    assert len(shown) == 1 and "complex operators" in str(shown[0].message)


@pytest.mark.slow  # a new process
def test_reading_raw_files_leaves_the_warning_filters_alone(tmp_path: Path) -> None:
    """The ismrmrd package's import turns every warning on for the whole process; mri-recon's
    raw-file modules import it without that, so the commands' filters keep hiding the
    dependencies' deprecation warnings."""
    code = (
        "import warnings\n"
        "import mri_recon.data.ismrmrd_plan, mri_recon.data.ismrmrd_read\n"
        "print([f for f in warnings.filters if f[2] is Warning and f[1] is None])\n"
    )
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"  # no catch-all filter such as ('default', ..., Warning)


@pytest.mark.parametrize(
    "command", [[], ["reconstruct"], ["evaluate"], ["import-weights"], ["check-data"], ["demo"]]
)
def test_help_imports_no_torch(command: list[str], tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from mri_recon.cli import main\n"
        "try:\n"
        f"    main({[*command, '--help']!r})\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0\n"
        "heavy = {'torch', 'pytorch_lightning', 'fastmri', 'h5py', 'numpy'}\n"
        "print(sorted(heavy & {name.split('.')[0] for name in sys.modules}))\n"
    )
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_python_m_mri_recon_is_the_command(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "mri_recon", "evaluate", "--help"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "--predictions-path" in result.stdout and "--batch-size" in result.stdout


@pytest.mark.slow
def test_fit_takes_a_bundled_recipe_by_name(tmp_path: Path) -> None:
    result = run("fit", "--config", "unet_knee_singlecoil", "--print_config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "challenge: singlecoil" in result.stdout and "chans: 32" in result.stdout
    unknown = run("fit", "--config", "no_such_recipe", cwd=tmp_path)
    assert unknown.returncode == 2
    error = "mri-recon fit: error: config: no_such_recipe is neither a file nor a bundled recipe"
    assert unknown.stderr.strip().splitlines()[-1].startswith(error)
    assert not any(tmp_path.iterdir())
