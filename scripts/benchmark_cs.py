"""Tune the compressed-sensing baseline's regularisation weight on a validation split.

For each regulariser and weight, the middle ``--slices`` slices of every volume of
``DATA/multicoil_val`` (the demo dataset's validation split by default; never its test split)
are undersampled with the demo recipe's masks (random, 4x with 8% and 8x with 4% centre lines,
seeded per file as validation does) and reconstructed by ``mri_recon.inference.compressed_sensing``
exactly as ``reconstruct --baseline cs`` runs it. SSIM and PSNR are fastMRI's, per volume (data
range: the target volume's maximum) and averaged over volumes; the zero-filled image is scored
beside them. The time is the mean wall time per slice of the CS solve (maps included).

    python scripts/benchmark_cs.py [--data demo_output/data] [--slices 2]
        [--regularizers wavelet tv] [--weights 3e-4 1e-3 3e-3 1e-2] [--iterations 100]
        [--sensitivities jsense] [--json sweep.json]

It prints a Markdown table, the form of docs/benchmarks.md.
"""

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import default_collate

from mri_recon.data.masks import create_mask
from mri_recon.data.slice_dataset import SliceDataset
from mri_recon.data.varnet_transform import VarNetDataTransform
from mri_recon.inference.compressed_sensing import CompressedSensing
from mri_recon.metrics import psnr, ssim
from mri_recon.options import CS_REGULARIZERS, CS_SENSITIVITIES, CsOptions
from mri_recon.report import format_table

MASKS = {4: 0.08, 8: 0.04}  # the demo recipe's accelerations and centre fractions


def middle_samples(data: Path, acceleration: int, count: int) -> dict[str, list]:
    """The middle ``count`` slices of each validation volume, as VarNet samples."""
    mask = create_mask("random", [MASKS[acceleration]], [acceleration])
    transform = VarNetDataTransform("multicoil", mask, use_seed=True)
    dataset = SliceDataset(data / "multicoil_val", "multicoil", transform=transform)
    by_volume: dict[str, list[int]] = {}
    for index, sample in enumerate(dataset.raw_samples):
        by_volume.setdefault(sample.fname.name, []).append(index)
    chosen = {}
    for fname, indices in sorted(by_volume.items()):
        start = max(0, len(indices) // 2 - count // 2)
        chosen[fname] = [dataset[i] for i in indices[start : start + count]]
    return chosen


def score(samples: dict[str, list], method) -> tuple[float, float]:
    """Mean over volumes of SSIM and PSNR of ``method``'s images (a batch of one sample in,
    (1, H, W) out) against the targets, data range = the target volume's maximum."""
    ssims, psnrs = [], []
    for slices in samples.values():
        target = np.stack([s.target.numpy() for s in slices])
        images = np.concatenate([method(default_collate([s])).numpy() for s in slices])
        maxval = float(target.max())
        ssims.append(ssim(target, images, maxval=maxval))
        psnrs.append(psnr(target, images, maxval=maxval))
    return statistics.mean(ssims), statistics.mean(psnrs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("demo_output/data"))
    parser.add_argument("--slices", type=int, default=2, help="middle slices per volume")
    parser.add_argument("--regularizers", nargs="+", default=list(CS_REGULARIZERS))
    parser.add_argument("--weights", nargs="+", type=float, default=[3e-4, 1e-3, 3e-3, 1e-2])
    parser.add_argument("--iterations", type=int, default=CsOptions().cs_iterations)
    parser.add_argument("--sensitivities", choices=CS_SENSITIVITIES, default="jsense")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    samples = {a: middle_samples(args.data, a, args.slices) for a in MASKS}
    rows, records = [], []

    def add(method: str, regularizer: str, weight: str, results: dict, seconds: str) -> None:
        cells = [f"{results[a][0]:.4f} / {results[a][1]:.2f}" for a in MASKS]
        mean_ssim = statistics.mean(results[a][0] for a in MASKS)
        rows.append([method, regularizer, weight, *cells, f"{mean_ssim:.4f}", seconds])
        scores = {f"{a}x": results[a] for a in MASKS}
        records.append({"method": method, "regularizer": regularizer, "weight": weight,
                        "scores": scores, "seconds": seconds})  # fmt: skip
        print(format_table(header, rows[-1:], left=3, markdown=True).splitlines()[-1], flush=True)

    header = ["method", "regulariser", "weight", *(f"{a}x SSIM / PSNR" for a in MASKS),
              "mean SSIM", "s / slice"]  # fmt: skip
    zero_filled = {a: score(samples[a], lambda b: b.zero_filled()) for a in MASKS}
    add("zero-filled", "-", "-", zero_filled, "-")
    for regularizer in args.regularizers:
        for weight in args.weights:
            options = CsOptions(regularizer, weight, args.iterations, args.sensitivities)
            cs = CompressedSensing(options, torch.device("cpu"))
            results = {a: score(samples[a], cs) for a in MASKS}
            add("CS", regularizer, f"{weight:g}", results, f"{cs.seconds_per_slice():.2f}")
    print()
    print(format_table(header, rows, left=3, markdown=True))
    if args.json is not None:
        args.json.write_text(json.dumps(records, indent=2) + "\n")


if __name__ == "__main__":
    main()
