"""The benchmark's sections in order, into one result: the table's rows and the JSON summary.

The summary's headline figures (targets in docs/benchmarks.md):

- ``train_speedup_vs_fastmri``: the fastMRI recipes' training step against fastMRI's recipe.
- ``inference_speedup_vs_fastmri``: ``reconstruct``'s network call (batch of
  ``RunOptions.batch_size``, ``--precision auto``) against fastMRI's U-Net in float32.
- ``data_speedup_vs_fastmri``: the slower of the data loader's speed-ups with 0 and 2 workers.
- ``contention_slowdown``: the demo recipe's step with a competing torch job over alone.
- ``train_gflops_achieved`` and ``gemm_peak_gflops``: the fastMRI recipes' training step in
  floating-point operations per second, and the best large square matmul in its precision.
- ``train_speedup_compiled_vs_fastmri``, ``inference_speedup_compiled_vs_fastmri``: the same
  training step and network call (batch of ``RunOptions.batch_size``) under ``torch.compile``.
- ``compile_seconds_cold`` and ``compile_seconds_cached``: the first compiled training step of
  the fastMRI recipes in a new process, with an empty inductor cache and with the cache the cold
  run filled (what a user's second run pays).
- ``scratch_compiled_vs_aten_compiled``: the fastMRI recipes' training step compiled with the
  from-scratch layers over the same with torch's.
- ``varnet_train_peak_gib``: a VarNet training step at fastMRI knee's size (12 cascades, 15
  coils, 640 x 368) with the cascades and the sensitivity network checkpointed, peak memory
  above the start (on the CPU: resident set), in a process of its own.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mri_recon.benchmark import contention, data, steps, varnet
from mri_recon.benchmark.isolated import run_isolated
from mri_recon.benchmark.timing import Comparison, alternate, gemm_peak
from mri_recon.options import RunOptions
from mri_recon.precision import fast_bf16, resolve_precision

SECTIONS = ("train", "inference", "data", "layers", "compile", "varnet", "contention")
TARGETS = {
    "train_speedup_vs_fastmri": (">=", 2.5),
    "inference_speedup_vs_fastmri": (">=", 3.0),
    "data_speedup_vs_fastmri": (">=", 1.5),
    "contention_slowdown": ("<=", 3.0),
    "gemm_fraction": (">=", 0.6),
    "scratch_compiled_vs_aten_compiled": ("<=", 1.3),
}
FASTMRI_RECIPE = "unet_knee_singlecoil"


@dataclass
class Settings:
    """How the benchmark runs.

    Attributes:
        repeats: timed calls of each side per case.
        shrink: divide the networks' image sizes by this.
        data_shrink: divide the data files' k-space and target sizes by this.
        data_files, data_slices: volumes and slices per volume written for the data section.
        contention_steps: steps timed alone and again with the competitor.
        sections: the sections to run.
        data_path: a fastMRI data folder (``multicoil_train/``) to read instead of writing one.
        quick: the settings are ``--quick``'s.
    """

    repeats: int = 5
    shrink: int = 1
    data_shrink: int = 1
    data_files: int = 2
    data_slices: int = 8
    contention_steps: int = 12
    sections: tuple[str, ...] = SECTIONS
    data_path: Path | None = None
    quick: bool = False


def machine() -> dict[str, Any]:
    """The machine and software the figures come from."""
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "fast_bf16_cpu": fast_bf16("cpu"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "load_average_at_start": os.getloadavg(),
    }


def _train(settings: Settings, cases: list[steps.TrainCase]) -> list[Comparison]:
    rows = []
    for case in cases:
        ours, ref = alternate(
            steps.train_step(case), steps.reference_train_step(case), settings.repeats
        )
        label = f"{case.name}: {case.net.get('chans', 32)} ch, batch {case.batch_size} of "
        label += f"{case.size}^2, {case.precision}"
        info = case.settings()
        rows.append(Comparison("train", label, ours, ref, case.batch_size, settings=info))
    return rows


def _inference(settings: Settings, cases: list[steps.TrainCase]) -> list[Comparison]:
    batch, precision = RunOptions().batch_size, resolve_precision("auto", "cpu")
    rows = []
    for case in cases:
        ours, ref = alternate(
            steps.inference_call(case, batch, precision),
            steps.reference_inference_call(case, batch),
            settings.repeats,
        )
        label = f"reconstruct, {case.name} checkpoint: batch {batch} of {case.size}^2, {precision}"
        info = {**case.settings(), "batch_size": batch, "precision": precision}
        rows.append(Comparison("inference", label, ours, ref, batch, settings=info))
    return rows


def _data(settings: Settings) -> list[Comparison]:
    with tempfile.TemporaryDirectory(prefix="mri-recon-benchmark-") as folder:
        root = settings.data_path
        if root is None:
            root = data.write_fastmri_sized(
                Path(folder), settings.data_files, settings.data_slices, settings.data_shrink
            )
        slices = data.slices_in(root)
        rows = []
        for workers in (0, 2):
            ours, ref = alternate(
                data.our_pass(root, workers), data.reference_pass(root, workers), settings.repeats
            )
            label = f"multicoil k-space to U-Net input, {workers} workers"
            info = {"workers": workers, "slices": slices, "data_path": str(settings.data_path)}
            rows.append(Comparison("data", label, ours, ref, slices, settings=info))
    return rows


def _layers(settings: Settings, case: steps.TrainCase) -> list[Comparison]:
    """Scratch layers against aten layers in the same U-Net training step."""
    precisions = ["32-true"] + (["bf16-mixed"] if fast_bf16("cpu") else [])
    return [
        _aten_vs_scratch(settings, "layers", case, batch, precision, compile=False)
        for precision in precisions
        for batch in (1, 8)
    ]


def _aten_vs_scratch(
    settings: Settings,
    section: str,
    case: steps.TrainCase,
    batch: int,
    precision: str,
    compile: bool,
) -> Comparison:
    """The case's training step at ``batch`` and ``precision`` with torch's layers (A) and with
    the from-scratch ones (B), both compiled or both eager (a compiled step's first call, its
    compilation, is ``alternate``'s untimed warm-up)."""
    shaped = steps.TrainCase(**{**vars(case), "batch_size": batch, "precision": precision})
    aten, scratch = alternate(
        steps.train_step(shaped, compile, conv_impl="aten", norm_impl="aten"),
        steps.train_step(shaped, compile, conv_impl="scratch", norm_impl="scratch"),
        settings.repeats,
    )
    label = f"U-Net {case.net.get('chans')} ch, batch {batch} of {case.size}^2, {precision}"
    label = f"train compiled, {label}" if compile else label
    info = {**shaped.settings(), "conv_impl/norm_impl": "aten (A) vs scratch (B)"}
    if compile:
        info["compile"] = True
    return Comparison(section, label, aten, scratch, batch, ("aten", "scratch"), info)


def _compile(settings: Settings, case: steps.TrainCase, summary: dict) -> list[Comparison]:
    """The compiled training step and network calls (batch 1 and ``RunOptions.batch_size``)
    against fastMRI's reference, then the compiled step with scratch against aten layers; into
    ``summary``, the first compiled step's seconds in new processes, cold and cached (an
    inductor cache of this run's own, removed after)."""
    precision = resolve_precision("auto", "cpu")
    rows, figures = [], {}
    with tempfile.TemporaryDirectory(prefix="mri-recon-inductor-") as cache:
        env = {"TORCHINDUCTOR_CACHE_DIR": cache}
        for when in ("cold", "cached"):
            figures[f"compile_seconds_{when}"] = run_isolated(
                "mri_recon.benchmark.steps.first_call_seconds", env, case=vars(case),
                purpose="train",
            )  # fmt: skip
        before = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
        try:
            ours, ref = alternate(
                steps.train_step(case, compile=True),
                steps.reference_train_step(case),
                settings.repeats,
            )
            label = f"{case.name}: batch {case.batch_size} of {case.size}^2, {case.precision}"
            info = {**case.settings(), "compile": True, **figures}
            rows.append(Comparison("compile", f"train, {label}", ours, ref, case.batch_size,
                                   ("compiled", "fastMRI"), info))  # fmt: skip
            for batch in sorted({1, RunOptions().batch_size}):
                ours, ref = alternate(
                    steps.inference_call(case, batch, precision, compile=True),
                    steps.reference_inference_call(case, batch),
                    settings.repeats,
                )
                label = f"reconstruct, {case.name}: batch {batch} of {case.size}^2, {precision}"
                info = {**case.settings(), "batch_size": batch, "precision": precision}
                info["compile"] = True
                labels = ("compiled", "fastMRI")
                rows.append(Comparison("compile", label, ours, ref, batch, labels, info))
            rows.append(
                _aten_vs_scratch(
                    settings, "compile", case, case.batch_size, case.precision, compile=True
                )
            )
        finally:
            if before is None:
                os.environ.pop("TORCHINDUCTOR_CACHE_DIR")
            else:
                os.environ["TORCHINDUCTOR_CACHE_DIR"] = before
    summary.update(figures)
    return rows


def _varnet(settings: Settings) -> list[Comparison]:
    """A VarNet training step at fastMRI knee's size (divided by ``shrink``): every part
    checkpointed (A) against none (B), each in its own process, with its peak memory."""
    size = {**varnet.FASTMRI_KNEE, "steps": max(1, settings.repeats // 3)}
    size["height"] //= settings.shrink
    size["width"] //= settings.shrink
    results = {
        mode: run_isolated("mri_recon.benchmark.varnet.measure", mode=mode, **size)
        for mode in ("train-all-checkpointed", "train")
    }
    checkpointed, plain = results["train-all-checkpointed"], results["train"]
    info = {
        **size,
        "peak_above_start_gib": {m: r["above_mib"] / 1024 for m, r in results.items()},
        "peak_rss_gib": {m: r["peak_mib"] / 1024 for m, r in results.items()},
    }
    label = (
        f"VarNet {size['cascades']} cascades, {size['coils']} coils, "
        f"{size['height']} x {size['width']}, train step"
    )
    labels = ("all checkpointed", "no checkpointing")
    return [Comparison("varnet", label, [checkpointed["seconds"]], [plain["seconds"]], 1,
                       labels, info)]  # fmt: skip


def _contention(settings: Settings, case: steps.TrainCase) -> list[Comparison]:
    """The demo recipe's step alone (A) and with a competitor (B); then, in a full run, the same
    without thread tuning (the cause) and with the other layers (scratch for aten, or aten)."""
    other = "scratch" if case.net.get("conv_impl", "scratch") == "aten" else "aten"
    variants = [("as the recipe trains", {}, True)]
    if not settings.quick:
        other_layers = {"conv_impl": other, "norm_impl": other}
        variants += [("threads not tuned", {}, False), (f"{other} layers", other_layers, True)]
    rows = []
    for name, overrides, tune in variants:
        step = steps.train_step(case, **overrides)
        alone, busy, settling = contention.slowdown(step, settings.contention_steps, tune)
        label = f"{case.name} step, {name}: with a competing torch job (B) vs alone (A)"
        info = {**case.settings(), **overrides, "tuned_threads": tune}
        info["slowdown"] = contention.ratio(alone, busy)
        info["settling_s"] = settling
        labels = ("alone", "busy")
        rows.append(Comparison("contention", label, alone, busy, case.batch_size, labels, info))
    return rows


def run_suite(settings: Settings, progress: Any = print) -> tuple[list[Comparison], dict]:
    """Runs the sections; returns the comparisons and the JSON summary."""
    cases = steps.recipe_cases("cpu", settings.shrink)
    fastmri_case = next(c for c in cases if FASTMRI_RECIPE in c.recipes)
    demo_case = next(c for c in cases if "demo" in c.recipes)
    summary: dict[str, Any] = {"settings": {**vars(settings), "machine": machine()}}
    summary["settings"]["data_path"] = str(settings.data_path)
    rows: list[Comparison] = []
    sections = {
        "train": lambda: _train(settings, cases),
        "inference": lambda: _inference(settings, cases),
        "data": lambda: _data(settings),
        "layers": lambda: _layers(settings, fastmri_case),
        "compile": lambda: _compile(settings, fastmri_case, summary),
        "varnet": lambda: _varnet(settings),
        "contention": lambda: _contention(settings, demo_case),
    }
    for name in settings.sections:
        progress(f"benchmark: {name} ...")
        for row in sections[name]():
            rows.append(row)
            progress(
                f"  {row.case}: {row.labels[0]} {row.ours_ms:.1f} ms/slice, "
                f"{row.labels[1]} {row.reference_ms:.1f}, B/A {row.ratio:.2f}"
            )
    by_section = {row.section: row for row in reversed(rows)}  # the first row of each
    if "train" in by_section:
        train = next(r for r in rows if r.section == "train" and FASTMRI_RECIPE in r.case)
        summary["train_speedup_vs_fastmri"] = train.ratio
        dtype = torch.bfloat16 if fastmri_case.precision == "bf16-mixed" else torch.float32
        step_seconds = train.ours_ms * train.per / 1e3
        summary["train_gflops_achieved"] = steps.train_flops(fastmri_case) / step_seconds / 1e9
        summary["gemm_peak_gflops"] = gemm_peak(dtype, 1024 if settings.quick else 2048)
        summary["gemm_fraction"] = summary["train_gflops_achieved"] / summary["gemm_peak_gflops"]
        summary["gemm_dtype"] = str(dtype)
    if "inference" in by_section:
        inference = (r for r in rows if r.section == "inference" and FASTMRI_RECIPE in r.case)
        summary["inference_speedup_vs_fastmri"] = next(inference).ratio
    if "compile" in by_section:
        compiled = [r for r in rows if r.section == "compile"]
        summary["train_speedup_compiled_vs_fastmri"] = compiled[0].ratio
        summary["inference_speedup_compiled_vs_fastmri"] = compiled[-2].ratio
        summary["scratch_compiled_vs_aten_compiled"] = compiled[-1].ratio
    if "varnet" in by_section:
        peaks = by_section["varnet"].settings["peak_above_start_gib"]
        summary["varnet_train_peak_gib"] = peaks["train-all-checkpointed"]
        summary["varnet_train_peak_gib_without_checkpointing"] = peaks["train"]
    if "data" in by_section:
        summary["data_speedup_vs_fastmri"] = min(r.ratio for r in rows if r.section == "data")
    if "contention" in by_section:
        summary["contention_slowdown"] = by_section["contention"].settings["slowdown"]
    summary["targets"] = {k: f"{op} {v}" for k, (op, v) in TARGETS.items()}
    summary["comparisons"] = [row.as_dict() for row in rows]
    return rows, summary
