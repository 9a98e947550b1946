"""The demo recipe against fastMRI's own U-Net trained with fastMRI's own classes, for the same
wall-clock time on this machine, scored on the demo dataset's test split.

For each seed, one after the other in this process:

1. ``mri-recon fit --config demo`` (the bundled recipe, as ``mri-recon demo`` trains it, with
   ``--seed_everything SEED``), timed from the call to its return: data indexing, compilation
   (where ``--compile auto`` decides it), validation and checkpointing included;
2. ``fastmri.models.Unet(1, 1, 16, 4)`` trained for the same number of seconds with fastMRI's
   ``SliceDataset``, ``UnetDataTransform`` and mask function (the demo's: random, 4x with 8% and
   8x with 4% centre lines; new masks every epoch in training, one per file in validation), Adam
   at 3e-3 with a cosine decay over the time budget, batches of 8, the recipe's data loader
   workers, L1, float32, eager; each epoch ends with a validation (fastMRI's SSIM
   per volume) and the best epoch's weights are kept, as the demo keeps its best checkpoint;
3. both networks scored on the test split by the demo's own scoring (stored masks, fastMRI's
   SSIM / PSNR per volume against the held-out truth), fastMRI's weights through
   ``--config demo`` as ``mri-recon evaluate`` reads published weights.

The table gives each method's mean over the seeds per acceleration (and each seed's);
``--json`` writes it. Everything else goes under ``--output-dir`` (which must not exist yet).

    python scripts/compare_demo_with_fastmri.py [--data demo_output/data]
        [--output-dir demo_vs_fastmri] [--seeds 1 2] [--max-epochs 30] [--json comparison.json]
"""

import argparse
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from fastmri.data import SliceDataset
from fastmri.data.subsample import create_mask_for_mask_type
from fastmri.data.transforms import UnetDataTransform
from fastmri.evaluate import ssim as fastmri_ssim
from fastmri.models import Unet as FastmriUnet
from torch.utils.data import DataLoader

from mri_recon.commands.demo import CHALLENGE, test_truth, train
from mri_recon.inference.comparison import compare_methods, comparison_report
from mri_recon.inference.preparation import prepare_run
from mri_recon.recipes import recipe_path
from mri_recon.report import format_table, write_json

DEMO, REFERENCE = "demo recipe", "fastMRI reference"
# The demo recipe's settings that the reference shares: masks, data loader workers, the U-Net's
# size. Its own training is fixed whatever the recipe's: Adam at 3e-3 with a cosine decay,
# batches of 8 (the reference run the issue describes).
RECIPE = yaml.safe_load(recipe_path("demo").read_text(encoding="utf-8"))
DATA, NET = RECIPE["data"], RECIPE["model"]["net"]["init_args"]
LEARNING_RATE, BATCH_SIZE = 3e-3, 8


@dataclass
class ReferenceRun:
    """What the reference's training did in its time budget."""

    epochs: int
    steps: int
    best_epoch: int
    best_val_ssim: float


def reference_loaders(data: Path) -> tuple[DataLoader, DataLoader]:
    """fastMRI's classes on the demo dataset's train and val splits, with the demo's masks."""
    mask = create_mask_for_mask_type(
        DATA["mask_type"], DATA["center_fractions"], DATA["accelerations"]
    )
    train_set = SliceDataset(
        data / f"{CHALLENGE}_train", CHALLENGE, UnetDataTransform(CHALLENGE, mask, use_seed=False)
    )
    val_set = SliceDataset(
        data / f"{CHALLENGE}_val", CHALLENGE, UnetDataTransform(CHALLENGE, mask, use_seed=True)
    )
    batch, workers = BATCH_SIZE, DATA["num_workers"]
    return (
        DataLoader(train_set, batch, shuffle=True, num_workers=workers),
        DataLoader(val_set, batch, num_workers=workers),
    )


def validation_ssim(net: torch.nn.Module, loader: DataLoader) -> float:
    """fastMRI's SSIM per validation volume (data range: the volume's ``max`` attribute),
    averaged over volumes, as fastMRI's ``MriModule`` reports it."""
    outputs: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
    maxima: dict[str, float] = {}
    net.eval()
    with torch.no_grad():
        for batch in loader:
            output = net(batch.image.unsqueeze(1)).squeeze(1)
            mean, std = batch.mean[:, None, None], batch.std[:, None, None]
            output, target = output * std + mean, batch.target * std + mean
            for i, fname in enumerate(batch.fname):
                pair = (output[i].numpy(), target[i].numpy())
                outputs.setdefault(fname, {})[int(batch.slice_num[i])] = pair
                maxima[fname] = float(batch.max_value[i])
    net.train()
    scores = []
    for fname, slices in outputs.items():
        ordered = [slices[k] for k in sorted(slices)]
        prediction, target = (np.stack(images) for images in zip(*ordered))
        scores.append(fastmri_ssim(target, prediction, maxval=maxima[fname]))
    return float(np.mean(scores))


def train_reference(data: Path, seconds: float, seed: int, weights: Path) -> ReferenceRun:
    """fastMRI's U-Net trained for ``seconds`` of wall-clock (validation included); the best
    epoch's state dict goes to ``weights``."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    net = FastmriUnet(1, 1, NET["chans"], NET["num_pool_layers"], NET["drop_prob"])
    optimizer = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
    train_loader, val_loader = reference_loaders(data)
    start, epochs, steps = time.perf_counter(), 0, 0
    best = (-math.inf, 0)
    while time.perf_counter() - start < seconds:
        for batch in train_loader:
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
            for group in optimizer.param_groups:  # cosine decay over the time budget
                group["lr"] = LEARNING_RATE * 0.5 * (1 + math.cos(math.pi * elapsed / seconds))
            output = net(batch.image.unsqueeze(1)).squeeze(1)
            loss = torch.nn.functional.l1_loss(output, batch.target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps += 1
        epochs += 1
        score = validation_ssim(net, val_loader)
        if score > best[0]:
            best = (score, epochs)
            torch.save(net.state_dict(), weights)
    return ReferenceRun(epochs, steps, best[1], best[0])


def score(data: Path, demo_checkpoint: Path, reference_weights: Path) -> dict:
    """Both networks on the test split: ``{method: {acceleration: {metric: mean}}}``."""
    test = data / f"{CHALLENGE}_test"
    runs = {
        DEMO: prepare_run(test, demo_checkpoint),
        REFERENCE: prepare_run(test, reference_weights, recipe="demo"),
    }
    report = comparison_report(list(runs))
    volumes = {name: run.volumes(run.dataset(), progress=False) for name, run in runs.items()}
    compare_methods(volumes, test_truth(data), report)
    if report.failures:
        raise RuntimeError(f"test split: {report.failures[0]}")
    return {
        method: {group: values[method] for group, values in report.summary().items()}
        for method in report.methods
    }


def compare(data: Path, output_dir: Path, seed: int, max_epochs: int | None = None) -> dict:
    """One seed: the demo's training, the reference's for as long, and both scored."""
    run_dir = output_dir / f"seed{seed}"
    overrides = ["--seed_everything", str(seed)]
    if max_epochs is not None:
        overrides += ["--trainer.max_epochs", str(max_epochs)]
    start = time.perf_counter()
    checkpoint = train(data, run_dir / "demo", "demo", False, overrides)
    seconds = time.perf_counter() - start
    weights = run_dir / "fastmri_unet.pt"
    reference = train_reference(data, seconds, seed, weights)
    print(
        f"seed {seed}: demo recipe {seconds:.0f} s ({checkpoint.name}); fastMRI reference "
        f"{reference.epochs} epochs, {reference.steps} steps, best epoch {reference.best_epoch} "
        f"(val SSIM {reference.best_val_ssim:.4f})",
        flush=True,
    )
    return {
        "seed": seed,
        "seconds": seconds,
        "demo_checkpoint": str(checkpoint),
        "reference": vars(reference),
        "scores": score(data, checkpoint, weights),
    }


def table(results: list[dict]) -> str:
    """Mean over seeds per acceleration and method, then each seed's."""
    rows = []
    for group in results[0]["scores"][DEMO]:
        for method in results[0]["scores"]:
            per_seed = [result["scores"][method][group] for result in results]
            ssims = [values["ssim_mean"] for values in per_seed]
            psnrs = [values["psnr_mean"] for values in per_seed]
            rows.append(
                [
                    str(group),
                    method,
                    f"{statistics.mean(ssims):.4f}",
                    f"{statistics.mean(psnrs):.2f}",
                    " / ".join(f"{v:.4f}" for v in ssims),
                    " / ".join(f"{v:.2f}" for v in psnrs),
                ]
            )
    header = ["acceleration", "method", "SSIM", "PSNR (dB)", "SSIM per seed", "PSNR per seed"]
    return format_table(header, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("demo_output/data"))
    parser.add_argument("--output-dir", type=Path, default=Path("demo_vs_fastmri"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--max-epochs", type=int, help="the demo's epochs (default: the recipe's)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.output_dir.exists():
        parser.error(f"--output-dir: {args.output_dir} exists (give a new folder)")
    if not (args.data / f"{CHALLENGE}_train").is_dir():
        parser.error(f"--data: {args.data} holds no demo dataset (mri-recon demo builds one)")
    results = [compare(args.data, args.output_dir, s, args.max_epochs) for s in args.seeds]
    print(table(results))
    if args.json:
        write_json(args.json, {"torch": torch.__version__, "results": results}, "comparison")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
