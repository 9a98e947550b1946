"""The product's training step and inference call, and fastMRI's reference for each.

- Training: ``ReconModule.training_step`` on the bundled recipe's network, loss and optimizer,
  under the Lightning precision plugin of the recipe's precision (an unset one resolved as
  ``mri-recon fit`` resolves it), then backward, ``optimizer.step()`` and ``zero_grad()``: what
  Lightning's automatic optimisation runs. The reference is fastMRI's recipe:
  ``fastmri.models.Unet`` in float32 with ``torch.optim.RMSprop`` and the L1 loss.
- Inference: ``run_network`` on ``inference_net``, the calls the volume loop of ``reconstruct``
  makes, in the precision ``--precision auto`` resolves to; the reference is
  ``fastmri.models.Unet`` in float32 under ``torch.no_grad``.

Recipes with the same network, optimizer, batch and image size are one case (the three fastMRI
recipes differ only in their data).
"""

from __future__ import annotations

import importlib
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
import yaml
from fastmri.models import Unet as ReferenceUnet

from mri_recon.data.unet_transform import UnetSample
from mri_recon.models import Unet
from mri_recon.precision import training_precision
from mri_recon.recipes import recipe_names, recipe_path

# The image size each recipe trains on: fastMRI's 320 x 320 targets, the demo data's 128 x 128.
RECIPE_SIZE = {"demo": 128}
FASTMRI_SIZE = 320


def _load(class_path: str) -> Any:
    module, name = class_path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


@dataclass
class TrainCase:
    """The settings of one or more recipes that train the same way.

    Attributes:
        recipes: the bundled recipes with these settings.
        net: ``Unet``'s arguments.
        loss: ``ReconModule``'s loss.
        optimizer: (class path, arguments).
        batch_size: slices per step.
        size: image height and width.
        precision: Lightning's precision string (resolved).
    """

    recipes: list[str]
    net: dict[str, Any]
    loss: str
    optimizer: tuple[str, dict[str, Any]]
    batch_size: int
    size: int
    precision: str

    @property
    def name(self) -> str:
        return "+".join(self.recipes)

    def settings(self) -> dict[str, Any]:
        """The case for the JSON report."""
        return {
            "recipes": self.recipes,
            "net": self.net,
            "loss": self.loss,
            "optimizer": self.optimizer[0],
            "batch_size": self.batch_size,
            "size": self.size,
            "precision": self.precision,
        }


def recipe_cases(accelerator: str = "cpu", shrink: int = 1) -> list[TrainCase]:
    """One ``TrainCase`` per distinct training setting among the bundled U-Net recipes (the
    reference is fastMRI's U-Net; the VarNet's own timings: ``scripts/benchmark_varnet.py``).

    Args:
        accelerator: where training would run (resolves an unset precision).
        shrink: divide image sizes by this (at least 32 pixels remain).
    """
    cases: dict[str, TrainCase] = {}
    for name in recipe_names():
        config = yaml.safe_load(recipe_path(name).read_text())
        model, trainer = config.get("model", {}), config.get("trainer", {})
        if model["net"]["class_path"] != "mri_recon.models.Unet":
            continue
        optimizer = model.get("optimizer", {"class_path": "mri_recon.optim.Adam"})
        case = TrainCase(
            recipes=[name],
            net=dict(model["net"].get("init_args", {})),
            loss=model.get("loss", "l1"),
            optimizer=(optimizer["class_path"], dict(optimizer.get("init_args", {}))),
            batch_size=int(config.get("data", {}).get("batch_size", 1)),
            size=max(32, RECIPE_SIZE.get(name, FASTMRI_SIZE) // shrink),
            precision=trainer.get("precision") or training_precision(accelerator),
        )
        key = repr({k: v for k, v in case.settings().items() if k != "recipes"})
        if key in cases:
            cases[key].recipes.append(name)
        else:
            cases[key] = case
    return list(cases.values())


def synthetic_batch(batch_size: int, size: int) -> UnetSample:
    """A batch as the data module yields it: normalised images and targets, statistics."""
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(batch_size, size, size, generator=generator)
    return UnetSample(
        image=image,
        target=image + 0.1 * torch.randn(batch_size, size, size, generator=generator),
        mean=torch.zeros(batch_size),
        std=torch.ones(batch_size),
        fname=[f"file{i}.h5" for i in range(batch_size)],
        slice_num=torch.arange(batch_size),
        max_value=torch.full((batch_size,), 5.0),
    )


def _precision_plugin(precision: str) -> Any:
    from pytorch_lightning.plugins.precision import MixedPrecision, Precision

    if precision == "bf16-mixed":
        return MixedPrecision("bf16-mixed", "cpu")
    if precision in ("32-true", "32", 32):
        return Precision()
    raise ValueError(f"benchmark: precision {precision!r} is not timed (bf16-mixed or 32-true)")


def train_step(case: TrainCase, compile: bool = False, **net_overrides: Any) -> Callable[[], None]:
    """One training step of ``ReconModule`` with the case's settings, its network compiled as
    ``--model.compile on`` compiles it or eager (``net_overrides`` change the network's
    arguments, e.g. ``conv_impl``)."""
    from mri_recon.training.module import ReconModule

    torch.manual_seed(0)
    net = Unet(**{**case.net, **net_overrides})
    optimizer_cls, optimizer_args = case.optimizer
    module = ReconModule(
        net,
        loss=case.loss,
        optimizer=partial(_load(optimizer_cls), **optimizer_args),
        compile="on" if compile else "off",
    )
    module.compile_for(training=True, pays=False)
    configured = module.configure_optimizers()
    optimizer = configured["optimizer"] if isinstance(configured, dict) else configured
    plugin = _precision_plugin(case.precision)
    batch = synthetic_batch(case.batch_size, case.size)
    warnings.filterwarnings("ignore", message=".*self.log.*")  # no Trainer: logging is skipped

    def step() -> None:
        with plugin.forward_context():
            loss = module.training_step(batch, 0)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    return step


def reference_train_step(case: TrainCase) -> Callable[[], None]:
    """fastMRI's recipe at the case's size: its U-Net, float32, RMSprop (lr 1e-3), L1 loss."""
    torch.manual_seed(0)
    net = ReferenceUnet(1, 1, case.net.get("chans", 32), case.net.get("num_pool_layers", 4))
    optimizer = torch.optim.RMSprop(net.parameters(), lr=1e-3)
    batch = synthetic_batch(case.batch_size, case.size)

    def step() -> None:
        output = net(batch.image.unsqueeze(1)).squeeze(1)
        F.l1_loss(output, batch.target).backward()
        optimizer.step()
        optimizer.zero_grad()

    return step


def train_flops(case: TrainCase) -> float:
    """Floating-point operations of one training step of the case (counted by torch)."""
    from torch.utils.flop_counter import FlopCounterMode

    step = train_step(case, conv_impl="aten", norm_impl="aten")
    with FlopCounterMode(display=False) as counter:
        step()
    return float(counter.get_total_flops())


def inference_call(
    case: TrainCase, batch_size: int, precision: str, compile: bool = False
) -> Callable[[], object]:
    """``reconstruct``'s network call on a batch, at a resolved ``precision``, compiled as
    ``--compile on`` compiles it or eager."""
    from mri_recon.inference.volumes import compiled_inference_net, inference_net, run_network

    torch.manual_seed(0)
    net = inference_net(Unet(**case.net), torch.device("cpu"))
    call = compiled_inference_net(net, torch.device("cpu")) if compile else None
    image = synthetic_batch(batch_size, case.size).image
    return lambda: run_network(net, image, torch.device("cpu"), precision, call)


def first_call_seconds(case: dict[str, Any], purpose: str, batch_size: int = 1) -> float:
    """Seconds of the first call of the case's compiled training step (``purpose`` ``train``)
    or inference call (``inference``, at ``batch_size``): compilation and one run. Meant for a
    process of its own (``mri_recon.benchmark.isolated``), whose on-disk inductor cache is
    empty (cold) or filled by an earlier process (cached).

    Args:
        case: the ``TrainCase``'s fields (``vars(case)``).
    """
    from mri_recon.precision import resolve_precision

    shaped = TrainCase(**case)
    if purpose == "train":
        call = train_step(shaped, compile=True)
    else:
        call = inference_call(shaped, batch_size, resolve_precision("auto", "cpu"), compile=True)
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def reference_inference_call(case: TrainCase, batch_size: int) -> Callable[[], object]:
    """fastMRI's U-Net in float32 on the same batch."""
    torch.manual_seed(0)
    net = ReferenceUnet(1, 1, case.net.get("chans", 32), case.net.get("num_pool_layers", 4))
    net.eval()
    image = synthetic_batch(batch_size, case.size).image.unsqueeze(1)

    def call() -> torch.Tensor:
        with torch.no_grad():
            return net(image)

    return call
