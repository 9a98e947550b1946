"""The hardware-dependent precision default: one rule for inference and training."""

import pytest
import torch

from mri_recon import precision
from mri_recon.cli import build_parser
from mri_recon.inference.preparation import prepare_run
from mri_recon.options import RunOptions
from mri_recon.precision import (
    FAST_BF16_VARIABLE,
    fast_bf16,
    inference_autocast,
    resolve_precision,
    training_precision,
)


@pytest.fixture
def bf16_hardware(monkeypatch: pytest.MonkeyPatch):
    """Pretends the CPU has (True) or lacks (False) fast bf16, with no switch set."""
    monkeypatch.delenv(FAST_BF16_VARIABLE, raising=False)

    def pretend(has: bool) -> None:
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: has)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)

    return pretend


@pytest.mark.parametrize("has", [True, False])
def test_the_switch_makes_the_hardware_resolve_the_other_way(
    has: bool, bf16_hardware, monkeypatch: pytest.MonkeyPatch
) -> None:
    bf16_hardware(has)
    monkeypatch.setenv(FAST_BF16_VARIABLE, "0" if has else "1")
    assert fast_bf16("cpu") is not has and fast_bf16("cuda") is not has
    assert resolve_precision("auto", "cpu") == ("32" if has else "bf16")
    assert training_precision("cpu") == ("32-true" if has else "bf16-mixed")
    assert resolve_precision("bf16", "cpu") == "bf16"  # an explicit choice still wins
    monkeypatch.setenv(FAST_BF16_VARIABLE, "yes")
    with pytest.raises(ValueError, match="MRI_RECON_FAST_BF16 must be 1 or 0"):
        fast_bf16("cpu")


def test_cpu_bf16_follows_the_instruction_set(bf16_hardware) -> None:
    bf16_hardware(True)
    assert fast_bf16("cpu") and resolve_precision("auto", torch.device("cpu")) == "bf16"
    assert training_precision("cpu") == training_precision("auto") == "bf16-mixed"
    bf16_hardware(False)
    assert not fast_bf16("cpu") and resolve_precision("auto", "cpu") == "32"
    assert training_precision("cpu") == training_precision(None) == "32-true"


def test_explicit_precision_wins(bf16_hardware) -> None:
    bf16_hardware(False)
    assert resolve_precision("bf16", "cpu") == "bf16"
    bf16_hardware(True)
    assert resolve_precision("32", "cpu") == "32"
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("fp16", "cpu")
    with pytest.raises(ValueError, match="precision must be one of"):
        RunOptions(precision="16")


def test_other_accelerators_keep_lightnings_default() -> None:
    assert training_precision("mps") == "32-true"


def test_autocast_is_bf16_only_when_asked() -> None:
    x, w = torch.randn(2, 3), torch.randn(3, 4)
    with inference_autocast("bf16", "cpu"):
        assert (x @ w).dtype == torch.bfloat16
    with inference_autocast("32", torch.device("cpu")):
        assert (x @ w).dtype == torch.float32


def test_prepared_run_resolves_for_its_device(small_multicoil, bf16_hardware) -> None:
    data = small_multicoil / "multicoil_val"
    for has in (True, False):
        bf16_hardware(has)
        run = prepare_run(data, options=RunOptions(accelerator="cpu"))
        assert run.precision == ("bf16" if has else "32")
    assert prepare_run(data, options=RunOptions(precision="bf16")).precision == "bf16"


def test_every_precision_the_command_line_offers_resolves(bf16_hardware) -> None:
    """Each choice of --precision resolves to a precision the network can run in."""
    parser = build_parser()
    for has in (True, False):
        bf16_hardware(has)
        for choice in precision.PRECISIONS:
            args = parser.parse_args(["reconstruct", "--zero-filled", "--data-path", "d",
                                      "--output-path", "o", "--precision", choice])  # fmt: skip
            assert resolve_precision(args.precision, "cpu") in ("bf16", "32"), choice
