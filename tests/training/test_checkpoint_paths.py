"""Every path that takes a checkpoint loads it with weights_only and fails in one line naming the
file; ``validate``/``test`` build the network a checkpoint records; ``--model.pretrained``
takes this project's checkpoints."""

from pathlib import Path

import pytest
import torch

from mri_recon.training.cli import cli_main
from tests.helpers import error_line, fit_args, run_main


class Payload:
    """Unpickling it would create the file ``marker``: the code a crafted checkpoint runs."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def lightning(command: str, data: Path, root: Path, *extra: str | Path) -> list[str]:
    return [command, *fit_args("demo", data, root)[1:], *map(str, extra)]


@pytest.fixture
def crafted(tmp_path: Path) -> tuple[Path, Path]:
    """A checkpoint-looking file whose unpickling would run code, and the file it would create."""
    marker = tmp_path / "payload_ran"
    path = tmp_path / "crafted.ckpt"
    torch.save({"state_dict": {}, "mri_recon": Payload(marker)}, path)
    return path, marker


def test_a_crafted_pickle_runs_on_no_path(
    crafted: tuple[Path, Path], small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    path, marker = crafted
    val = small_multicoil / "multicoil_val"
    runs = {
        "fit": lightning("fit", small_multicoil, tmp_path, "--ckpt_path", path),
        "validate": lightning("validate", small_multicoil, tmp_path, "--ckpt_path", path),
        "test": lightning("test", small_multicoil, tmp_path, "--ckpt_path", path),
        "pretrained": lightning("fit", small_multicoil, tmp_path, "--model.pretrained", path),
        "reconstruct": ["reconstruct", "--checkpoint", path, "--data-path", val,
                        "--output-path", tmp_path / "out"],
        "evaluate": ["evaluate", "--checkpoint", path, "--data-path", val],
    }  # fmt: skip
    for name, args in runs.items():
        code, _, err = run_main(capsys, *args)
        line = error_line(err.strip().splitlines()[-1], args[0])
        assert code == 2, name
        assert str(path) in line and "holds objects other than tensors" in line, name
        assert "weights_only" not in line, name
        assert not marker.exists(), name
    assert not (tmp_path / "out").exists() and not (tmp_path / "lightning_logs").exists()


def test_foreign_damaged_and_weights_only_files_are_one_line_errors(
    tiny_checkpoint: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    foreign = tmp_path / "foreign.pt"
    torch.save({"weight": torch.ones(2)}, foreign)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(tiny_checkpoint.read_bytes()[:5000])
    weights = tmp_path / "weights.ckpt"
    state = torch.load(tiny_checkpoint, weights_only=True)
    del state["optimizer_states"]
    torch.save(state, weights)
    cases = [
        ("fit", foreign, "not an mri-recon checkpoint (no 'mri_recon' section)"),
        ("validate", truncated, "damaged or unreadable"),
        ("fit", weights, f"holds the weights only, not a training state to resume; to start a "
                         f"new run from its weights use --model.pretrained {weights}"),
    ]  # fmt: skip
    for command, path, problem in cases:
        args = lightning(command, small_multicoil, tmp_path, "--ckpt_path", path)
        code, _, err = run_main(capsys, *args)
        line = error_line(err.strip().splitlines()[-1], command)
        assert code == 2 and f"error: ckpt_path {path}: {problem}" in line, line


def test_resuming_with_another_network_is_a_one_line_error(
    tiny_checkpoint: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    args = lightning("fit", small_multicoil, tmp_path, "--ckpt_path", tiny_checkpoint)
    code, _, err = run_main(capsys, *args, "--model.net.init_args.chans", "8")
    assert code == 2
    line = error_line(err.strip().splitlines()[-1], "fit")
    assert "the checkpoint's network" in line and "'chans': 4" in line and "'chans': 8" in line


def test_validate_uses_the_network_the_checkpoint_records(
    tiny_checkpoint: Path, small_multicoil: Path, tmp_path: Path
) -> None:
    # The demo recipe builds 16 channels; the checkpoint holds 4.
    cli = cli_main(lightning("validate", small_multicoil, tmp_path, "--ckpt_path", tiny_checkpoint))
    assert cli.model.net.chans == 4
    assert torch.isfinite(cli.trainer.callback_metrics["val/ssim"])


def test_pretrained_takes_this_projects_checkpoints(
    tiny_checkpoint: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    args = lightning("fit", small_multicoil, tmp_path, "--model.pretrained", tiny_checkpoint,
                     "--model.net.init_args.chans", "4")  # fmt: skip
    cli = cli_main(args[1:], run=False)
    saved = torch.load(tiny_checkpoint, weights_only=True)["state_dict"]
    for key, value in cli.model.net.state_dict().items():
        torch.testing.assert_close(value, saved[f"net.{key}"])
    other = lightning("fit", small_multicoil, tmp_path, "--model.pretrained", tiny_checkpoint)
    code, _, err = run_main(capsys, *other)
    line = error_line(err.strip().splitlines()[-1], "fit")
    assert code == 2 and f"pretrained {tiny_checkpoint}: an mri-recon checkpoint" in line
    assert f"use --ckpt_path {tiny_checkpoint}" in line


def crafted_section(state: dict, case: str) -> str:
    """Edits a checkpoint's contents as a crafted file would; returns the problem to name."""
    if case == "state_dict a list":
        state["state_dict"] = list(state["state_dict"].values())
        return "'state_dict' must map names to tensors"
    if case == "epoch text":
        state["epoch"] = "abc"
        return "'epoch' must be an integer, got 'abc'"
    if case == "accelerations text":
        state["mri_recon"]["data"]["accelerations"] = "44"
        return "'mri_recon.data.accelerations' must be a list of numbers, got '44'"
    state["mri_recon"]["data"]["center_fractions"] = [0.9, 0.04]
    return "center_fractions: 0.9 leaves no room for acceleration 4"


@pytest.mark.parametrize(
    "case", ["state_dict a list", "epoch text", "accelerations text", "fraction too large"]
)
def test_crafted_sections_are_one_line_errors_naming_the_file(
    case: str, tiny_checkpoint: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    state = torch.load(tiny_checkpoint, weights_only=True)
    problem = crafted_section(state, case)
    path = tmp_path / "crafted.ckpt"
    torch.save(state, path)
    val = small_multicoil / "multicoil_val"
    runs = {
        "reconstruct": ["reconstruct", "--checkpoint", path, "--data-path", val,
                        "--output-path", tmp_path / "out"],
        "validate": lightning("validate", small_multicoil, tmp_path, "--ckpt_path", path),
    }  # fmt: skip
    for name, args in runs.items():
        code, _, err = run_main(capsys, *args)
        line = error_line(err.strip().splitlines()[-1], args[0])
        assert code == 2 and str(path) in line and problem in line, (name, line)
