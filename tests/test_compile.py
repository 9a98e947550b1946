"""torch.compile as a product feature: one decision (``--compile auto|on|off``), compiled
outputs equal eager ones, a failed compilation runs eagerly after one warning, checkpoints hold
the eager network's weights, and compiled kernels land in mri-recon's cache folder."""

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from mri_recon.data.datamodule import FastMriDataModule
from mri_recon.data.slice_dataset import SliceDataset
from mri_recon.inference.volumes import kspace_pixels
from mri_recon.models import Unet, VarNet
from mri_recon.models.compiled import Compiled
from mri_recon.models.sensitivity import count_low_frequencies
from mri_recon.models.unet import ConvBlock
from mri_recon.precision import (
    DEMO_BATCH_PIXELS,
    MIN_INFERENCE_CALLS_TO_COMPILE,
    MIN_TRAINING_SECONDS_TO_COMPILE,
    TIMED_STEPS,
    compiler_problem,
    inference_calls,
    inference_pays,
    inference_weights_format,
    resolve_compile,
    training_pays,
)
from mri_recon.training.module import ReconModule
from tests.helpers import assert_step_equals_eager, fit_args, read_volume, run_cli, run_main

NO_COMPILER = "/nonexistent/g++"
# A one-cascade VarNet on torch's kernels, quick to compile.
TINY_VARNET = dict(num_cascades=1, sens_chans=4, sens_pools=2, chans=4, pools=2, conv_impl="aten",
                   norm_impl="aten")  # fmt: skip


def test_auto_compiles_long_runs_where_a_compiler_is_found(monkeypatch: pytest.MonkeyPatch):
    assert compiler_problem("cpu") is None  # gcc is here (make test's machines have it)
    assert resolve_compile("auto", "cpu", pays=True)
    assert not resolve_compile("auto", "cpu", pays=False)
    assert resolve_compile("on", "cpu", pays=False) and not resolve_compile("off", "cpu", True)
    least = MIN_INFERENCE_CALLS_TO_COMPILE
    assert inference_pays(least) and not inference_pays(least - 1)
    # Training: the eager time of the steps left, whatever the number of steps; a VarNet, which
    # saves more a step, from less time than a U-Net.
    for network, least in MIN_TRAINING_SECONDS_TO_COMPILE.items():
        assert training_pays(network, 0.5, least / 0.5)
        assert not training_pays(network, 0.5, least / 0.5 - 1)
        assert training_pays(network, 60.0, least / 60) and not training_pays(network, 0.01, 10)
    seconds = MIN_TRAINING_SECONDS_TO_COMPILE
    assert seconds["VarNet"] < seconds["Unet"]
    assert training_pays("VarNet", 1.0, seconds["VarNet"]) and not training_pays(
        "Unet", 1.0, seconds["VarNet"]
    )
    monkeypatch.setenv("CXX", NO_COMPILER)
    assert (
        compiler_problem("cpu")
        == f"no working C++ compiler ({NO_COMPILER}) for torch.compile's CPU kernels"
    )
    assert not resolve_compile("auto", "cpu", pays=True)
    with pytest.raises(ValueError, match="compile must be one of"):
        resolve_compile("yes", "cpu", True)


class StopAfter(Callback):
    """Ends a fit after ``steps`` training steps (Lightning's own ``should_stop``)."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def on_train_batch_end(self, trainer: pl.Trainer, *_: object) -> None:
        trainer.should_stop = trainer.global_step >= self.steps


@pytest.mark.slow
def test_auto_times_the_first_training_steps_and_compiles_a_long_run_only(
    small_multicoil: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture,
) -> None:
    """Training's ``auto`` times the first steps and compiles when the steps left would take
    10 minutes or more eagerly (a U-Net): 3 epochs of the small data train eagerly; 10 million
    epochs (ended after two compiled steps) compile, and say so."""

    def fit(epochs: int, bar: bool = False) -> tuple[ReconModule, str]:
        torch.manual_seed(0)
        net = Unet(1, 1, chans=4, num_pool_layers=2, conv_impl="aten", norm_impl="aten")
        module = ReconModule(net, compile="auto")
        data = FastMriDataModule(small_multicoil, "multicoil", batch_size=1, num_workers=0,
                                 use_dataset_cache=False)  # fmt: skip
        trainer = pl.Trainer(
            default_root_dir=tmp_path, max_epochs=epochs, limit_val_batches=0, logger=False,
            enable_checkpointing=False, enable_progress_bar=bar, enable_model_summary=False,
            accelerator="cpu", precision="32-true", callbacks=[StopAfter(TIMED_STEPS + 3)],
        )  # fmt: skip
        caplog.clear()
        trainer.fit(module, datamodule=data)
        return module, caplog.text + capsys.readouterr().out

    short, out = fit(3, bar=True)
    assert short.calls[True] is None and len(short.step_seconds) == TIMED_STEPS + 1
    # Under a progress bar the line is printed on a line of its own (the bar redrawn after it).
    (line,) = [ln for ln in out.split("\n") if "compile auto" in ln]
    assert line.split("\r")[-1].startswith("compile auto: training runs eagerly (its ")
    assert line.endswith("min eagerly, under 10 for a Unet)")
    torch._dynamo.reset()
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]  # not reset by reset()
    long, err = fit(10**7)
    call = long.calls[True]
    assert call is not None and call.failure is None
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] - graphs == 1
    assert "compile auto: training runs compiled (its " in err and "min eagerly)" in err


def test_auto_counts_an_inference_run_in_the_demos_batches_of_k_space(
    small_multicoil: Path,
) -> None:
    """Where a batch saves more (larger images), fewer batches win the compilation back:
    fastMRI's knee validation set (7,135 slices of 640 x 368 k-space, 892 batches of 8)
    compiles; a run of small images counts its batches, as before."""
    least = MIN_INFERENCE_CALLS_TO_COMPILE
    knee_val = inference_calls(892, 7135 * 640 * 368)
    assert knee_val == 6410 and inference_pays(knee_val)
    assert inference_calls(least, 10) == least
    assert inference_calls(1, least * DEMO_BATCH_PIXELS) == least
    dataset = SliceDataset(small_multicoil / "multicoil_val", "multicoil", use_dataset_cache=False)
    pixels = 0
    for file in sorted((small_multicoil / "multicoil_val").glob("*.h5")):
        with h5py.File(file) as data:
            slices, _, rows, columns = data["kspace"].shape
        pixels += slices * rows * columns
    assert pixels > 0 and kspace_pixels(dataset) == pixels


def test_training_on_a_cpu_without_fast_bf16_compiles_with_contiguous_convolutions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Inductor's channels-last convolutions slowed compiled training on an AVX2 CPU: training
    there turns inductor's layout optimization off (``torch.compile`` raises on an unknown
    option); inference, and training where bf16 is fast, keep inductor's choice."""
    net = Unet(1, 1, chans=4, num_pool_layers=1, conv_impl="aten", norm_impl="aten")
    monkeypatch.setenv("MRI_RECON_FAST_BF16", "0")
    assert Compiled(net, "train").options == {"layout_optimization": False}
    assert Compiled(net, "inference").options is None
    assert Compiled(net, "train", backend="eager").options is None
    monkeypatch.setenv("MRI_RECON_FAST_BF16", "1")
    assert Compiled(net, "train").options is None


def test_compiled_inference_takes_channels_last_weights_and_gives_them_back_if_it_fails() -> None:
    """On a CPU, compiled inference runs with channels-last weights (faster there); when
    compilation fails, the eager run gets the contiguous weights back (eager convolutions are
    slower channels-last) and the eager outputs exactly."""
    assert inference_weights_format("cpu") == torch.channels_last
    assert inference_weights_format("cuda") == torch.contiguous_format
    torch.manual_seed(0)
    net = Unet(1, 1, chans=4, num_pool_layers=1, conv_impl="aten", norm_impl="aten").eval()
    image = torch.randn(2, 1, 16, 16)
    with torch.inference_mode():
        eager = net(image)

    def failing(graph: torch.fx.GraphModule, inputs: list[torch.Tensor]) -> None:
        raise RuntimeError("no kernels here")

    call = Compiled(net, weights_format=torch.channels_last, backend=failing)
    weights = [p for p in net.parameters() if p.dim() == 4]
    assert weights and all(p.is_contiguous(memory_format=torch.channels_last) for p in weights)
    assert not all(p.is_contiguous() for p in weights)
    with torch.inference_mode(), pytest.warns(UserWarning, match="no kernels here"):
        output = call(image)
    assert call.failure is not None and all(p.is_contiguous() for p in weights)
    torch.testing.assert_close(output, eager, rtol=0, atol=0)


@pytest.mark.slow
def test_a_scratch_block_compiled_by_inductor_equals_eager() -> None:
    """Inductor's kernels around the scratch convolution's operators, for a conv, instance norm
    and LeakyReLU block: the eager outputs and weight gradients. In float64, as the VarNet's
    training step below: float32 rounding can put a pre-activation on the other side of
    LeakyReLU's kink."""
    torch.manual_seed(0)
    block = ConvBlock(2, 4, 0.0, norm="instance", num_groups=1, conv_impl="scratch",
                      norm_impl="scratch").train()  # fmt: skip
    call = Compiled(block)
    assert_step_equals_eager(block, (torch.randn(2, 2, 24, 16),), call)
    assert call.failure is None


@pytest.mark.slow
def test_reconstruct_compiled_equals_eager(
    tiny_checkpoint: Path, small_multicoil: Path, tmp_path: Path, capsys
) -> None:
    """Six slices in batches of 4: the batch of 4 runs compiled, the last batch of 2 eagerly,
    so that the run compiles one graph, not a second one for the smaller batch."""
    data = small_multicoil / "multicoil_val"
    assert sum(read_volume(file, "kspace").shape[0] for file in data.glob("*.h5")) == 6
    torch._dynamo.reset()
    graphs = []
    for choice in ("off", "on"):
        code, _, err = run_main(
            capsys, "reconstruct", "--checkpoint", tiny_checkpoint, "--data-path", data,
            "--output-path", tmp_path / choice, "--compile", choice, "--precision", "32",
            "--batch-size", "4",
        )  # fmt: skip
        assert code == 0 and "torch.compile failed" not in err
        graphs.append(torch._dynamo.utils.counters["stats"]["unique_graphs"])
    assert graphs[1] - graphs[0] == 1
    for file in sorted(data.glob("*.h5")):
        eager, compiled = (read_volume(tmp_path / choice / file.name) for choice in ("off", "on"))
        # Inductor fuses and reorders float32 sums: the same network to float32 rounding,
        # carried through its layers (about 1e-6 relative each).
        np.testing.assert_allclose(compiled, eager, rtol=0, atol=1e-4 * np.abs(eager).max())


@pytest.mark.slow
def test_without_a_compiler_it_warns_once_and_runs_eagerly(
    tiny_checkpoint: Path, small_multicoil: Path, tmp_path: Path
) -> None:
    data = small_multicoil / "multicoil_val"
    env = {**os.environ, "CXX": NO_COMPILER, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "cache")}
    args = ["reconstruct", "--checkpoint", str(tiny_checkpoint), "--data-path", str(data),
            "--precision", "32"]  # fmt: skip
    runs = {}
    for choice in ("on", "off"):
        runs[choice] = subprocess.run(
            [sys.executable, "-m", "mri_recon", *args, "--output-path", str(tmp_path / choice),
             "--compile", choice],
            capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path,
        )  # fmt: skip
        assert runs[choice].returncode == 0, runs[choice].stderr[-2000:]
    warnings = [line for line in runs["on"].stderr.splitlines() if "torch.compile failed" in line]
    assert len(warnings) == 1 and "running eagerly" in warnings[0]
    assert "InvalidCxxCompiler" in warnings[0] and "Traceback" not in runs["on"].stderr
    for file in sorted(data.glob("*.h5")):
        np.testing.assert_array_equal(
            read_volume(tmp_path / "on" / file.name), read_volume(tmp_path / "off" / file.name)
        )


@pytest.mark.slow
def test_compiled_training_keeps_the_eager_weights_names_and_resumes_exactly(
    small_multicoil: Path, tmp_path: Path
) -> None:
    run = ("--model.net.init_args.chans", "4", "--model.net.init_args.num_pool_layers", "2",
           "--model.compile", "on", "--trainer.precision", "32", "--trainer.deterministic",
           "true", "--data.batch_size", "6")  # fmt: skip
    straight = run_cli(*fit_args("demo", small_multicoil, tmp_path / "a", *run,
                                 "--trainer.max_epochs", "2"))  # fmt: skip
    assert straight.model.calls[True] is not None and straight.model.calls[True].failure is None
    run_cli(*fit_args("demo", small_multicoil, tmp_path / "b", *run, "--trainer.max_epochs", "1"))
    run_cli(*fit_args("demo", small_multicoil, tmp_path / "b", *run, "--trainer.max_epochs", "2",
                      "--ckpt_path", "last"))  # fmt: skip
    states = [torch.load(root / "checkpoints" / "last.ckpt", weights_only=True)
              for root in (tmp_path / "a", tmp_path / "b")]  # fmt: skip
    names = [key for key in states[0]["state_dict"] if key.startswith("net.")]
    assert names and not any("_orig_mod" in key for key in states[0]["state_dict"])
    for key in names:  # the same compiled kernels on the same data: bit for bit
        assert torch.equal(states[0]["state_dict"][key], states[1]["state_dict"][key]), key


# A compiled call in a new process that imports torch._dynamo first, as Lightning does (which
# sets TORCHINDUCTOR_CACHE_DIR to torch's /tmp default); prints where inductor's cache went.
COMPILE_IN_NEW_PROCESS = """
import os, torch._dynamo, torch
from mri_recon.models.compiled import Compiled
call = Compiled(torch.nn.Linear(3, 3))
with torch.no_grad():
    call(torch.ones(2, 3))
assert call.failure is None, call.failure
print(os.environ["TORCHINDUCTOR_CACHE_DIR"])
"""


@pytest.mark.slow
def test_compiled_kernels_go_to_mri_recons_cache_folder_unless_the_user_chose_one(
    tmp_path: Path,
) -> None:
    env = {key: value for key, value in os.environ.items() if key != "TORCHINDUCTOR_CACHE_DIR"}
    env["MRI_RECON_CACHE_DIR"] = str(tmp_path / "ours")
    for chosen, expected in ((None, tmp_path / "ours" / "inductor"), ("own", tmp_path / "own")):
        if chosen:
            env["TORCHINDUCTOR_CACHE_DIR"] = str(tmp_path / chosen)
        result = subprocess.run([sys.executable, "-c", COMPILE_IN_NEW_PROCESS], env=env,
                                capture_output=True, text=True, timeout=600)  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.strip() == str(expected)
        assert any(expected.rglob("*.py")), f"no compiled kernels in {expected}"


def test_batches_smaller_than_the_batch_size_run_eagerly_without_another_graph() -> None:
    """An epoch's last batch, or a shape group's, would compile a second graph (and a batch
    of one a third): they run eagerly instead. The batch size is given, or the largest so far."""
    torch._dynamo.reset()
    net = Unet(1, 1, chans=4, num_pool_layers=2).eval()
    images = torch.randn(4, 1, 16, 16)
    for given, sizes, graphs in ((None, (4, 4, 2, 1, 3), 1), (4, (2, 1, 4, 3), 1)):
        call = Compiled(net, backend="eager", batch_size=given)
        before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
        for size in sizes:
            with torch.no_grad():
                torch.testing.assert_close(call(images[:size]), net(images[:size]))
        assert torch._dynamo.utils.counters["stats"]["unique_graphs"] - before == graphs
        torch._dynamo.reset()


def test_the_centre_count_compiled_by_inductor_equals_eager() -> None:
    """The VarNet counts a stored mask's centre lines with argmin: inductor's CPU code got it
    wrong in int8 (0 or garbage), so reconstructed files with stored masks lost their coil
    sensitivities when compiled."""
    torch._dynamo.reset()
    for width in (128, 368):
        mask = torch.zeros(5, 1, 1, width, 1, dtype=torch.bool)
        mask[:, ..., ::4, :] = True
        for sample, lines in enumerate((10, 4, 26, 0)):
            start = (width - lines + 1) // 2
            mask[sample, ..., start : start + lines, :] = True
        mask[4] = True  # fully sampled
        counted = count_low_frequencies(mask)
        assert counted[:3].tolist() == [10, 4, 26]
        assert torch.equal(torch.compile(count_low_frequencies)(mask), counted)


def _tiny_varnet_batch() -> tuple[VarNet, tuple[torch.Tensor, ...]]:
    """The tiny VarNet and a batch whose two masks have centres of 8 and 4 lines, to be counted
    (``num_low_frequencies`` 0, as for files with stored masks)."""
    torch._dynamo.reset()
    torch.manual_seed(0)
    net = VarNet(**TINY_VARNET)
    width = 48
    mask = torch.zeros(2, 1, 1, width, 1, dtype=torch.bool)
    mask[..., ::3, :] = True
    mask[0, ..., 20:28, :] = True
    mask[1, ..., 22:26, :] = True
    return net, (torch.randn(2, 3, 32, width, 2) * mask, mask, torch.zeros(2, dtype=torch.long))


@pytest.mark.slow
def test_a_varnet_compiled_by_inductor_equals_eager_on_masks_of_its_own() -> None:
    """Inductor's kernels, not only dynamo's graph, give the eager network's output (with the
    int8 centre count they were 29% off)."""
    net, inputs = _tiny_varnet_batch()
    net.eval()
    call = Compiled(net)
    with torch.inference_mode():
        compiled, eager = call(*inputs), net(*inputs)
    assert call.failure is None
    torch.testing.assert_close(compiled, eager, rtol=0, atol=1e-5 * eager.abs().max().item())


@pytest.mark.slow
@pytest.mark.precision
def test_a_varnet_training_step_compiled_by_inductor_equals_eager() -> None:
    """The compiled training path (forward and backward through inductor's kernels, with the
    training options of this CPU: ``make test`` runs it again with those of the other precision
    resolution) gives the eager network's output and weight gradients.

    In float64. In float32 the two paths round differently (about 1e-6 here), and a
    pre-activation that close to LeakyReLU's kink at 0 takes the other slope: on one thread one
    pixel of this batch did (2.8e-6 eagerly), and weight gradients moved by up to 2% of their
    largest value, with inductor's forward and backward kernels each equal to their graph."""
    net, inputs = _tiny_varnet_batch()
    call = Compiled(net, "train")
    assert_step_equals_eager(net, inputs, call)
    assert call.failure is None


@pytest.mark.slow
def test_widths_that_vary_from_volume_to_volume_compile_three_times_at_most() -> None:
    """fastMRI's volumes come in several widths: the first width compiles static, the second
    as a dynamic width; the U-Nets' padding to a multiple of 16 adds one graph for widths that
    need none. Later widths compile nothing more. Graphs are dynamo's (the eager backend: what
    inductor would generate code for, without the minutes it takes)."""
    torch._dynamo.reset()
    net = VarNet(**TINY_VARNET).eval()
    call = Compiled(net, backend="eager")
    graphs = []
    for width in (24, 28, 32, 36, 48):
        kspace = torch.randn(1, 3, 32, width, 2)
        mask = torch.zeros(1, 1, 1, width, 1, dtype=torch.bool)
        mask[..., ::2, :] = True
        with torch.no_grad():
            torch.testing.assert_close(call(kspace * mask, mask), net(kspace * mask, mask),
                                       atol=1e-4, rtol=1e-4)  # fmt: skip
        graphs.append(torch._dynamo.utils.counters["stats"]["unique_graphs"])
    assert call.failure is None
    assert graphs[2] - graphs[0] <= 2
    assert graphs[-1] == graphs[2]  # 36 (padded) and 48 (a multiple of 16) reuse the graphs
