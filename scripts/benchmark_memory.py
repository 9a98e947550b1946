"""Memory of the data pipeline over many multicoil slices: does reading grow it?

fastMRI users report memory that grows while DataLoader workers read HDF5 files for hours. This
reads N multicoil slices (default 2,000) in random order through ``SliceDataset`` +
``UnetDataTransform`` (random 4x masks) and a ``DataLoader`` with W worker processes (default 2),
the way training reads them, and measures the memory of the pipeline after a warm-up and at the
end: the main process's resident set plus each worker's private pages (what the worker adds to
what it shares with the main process it was forked from; copy-on-write growth shows there).
Growth = end / warm-up - 1; the goal is under 10%. Linux only (reads /proc).

The sum of the processes' PSS (shared pages split between their sharers) is not used: it moves
when a worker releases pages it inherited (the main process's share of them grows) while no
memory is added.

    python scripts/benchmark_memory.py [--data DIR] [--slices 2000] [--workers 2] [--warmup 200]

Without ``--data`` it simulates a multicoil dataset (100 volumes of 20 slices, 8 coils,
k-space 128 x 64) into a temporary folder first.
"""

import argparse
import os
import tempfile
from pathlib import Path

import torch
from torch.utils.data import DataLoader, RandomSampler

from mri_recon.data import SliceDataset, UnetDataTransform, create_mask
from mri_recon.report import format_table

MIB = 1024 * 1024


def memory_bytes(pid: int, *fields: str) -> int:
    """The sum of ``fields`` (``Rss``, ``Private_Dirty``, ...) of process ``pid``."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in fields:
            values[name] = int(rest.split()[0]) * 1024
    return sum(values[name] for name in fields)


def pipeline_memory(iterator: object) -> int:
    """This process's RSS plus the private pages of the iterator's live worker processes."""
    workers = getattr(iterator, "_workers", [])  # torch's worker processes (none without)
    alive = [worker.pid for worker in workers if worker.is_alive()]
    private = sum(memory_bytes(pid, "Private_Clean", "Private_Dirty") for pid in alive)
    return memory_bytes(os.getpid(), "Rss") + private


def simulated_data(root: Path) -> Path:
    """A multicoil training folder of 2,000 slices, simulated with ``data_prep``."""
    from data_prep.config import SimulationConfig
    from data_prep.simulate import simulate_dataset

    config = SimulationConfig(source="phantom", challenge="multicoil", coils=8, recon_size=64,
                              num_volumes=100, slices_per_volume=20, val_fraction=0,
                              test_fraction=0, seed=3)  # fmt: skip
    simulate_dataset(config, root)
    return root / "multicoil_train"


def measure(data: Path, slices: int, workers: int, warmup: int) -> dict[str, float]:
    """Reads ``slices`` slices (several epochs when needed); memory in MiB after ``warmup``
    slices, at the end and at most, and the growth."""
    mask = create_mask("random", [0.08], [4])
    transform = UnetDataTransform("multicoil", mask_func=mask, use_seed=False)
    dataset = SliceDataset(data, "multicoil", transform=transform)
    sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(0))
    loader = DataLoader(dataset, batch_size=1, sampler=sampler, num_workers=workers,
                        persistent_workers=workers > 0)  # fmt: skip
    read, warm, peak = 0, 0, 0
    iterator = iter(loader)
    while read < slices:
        try:
            next(iterator)
        except StopIteration:
            iterator = iter(loader)
            continue
        read += 1
        if read == warmup:
            warm = pipeline_memory(iterator)
        if read % 50 == 0:
            peak = max(peak, pipeline_memory(iterator))
    end = pipeline_memory(iterator)
    return {"warm": warm / MIB, "end": end / MIB, "peak": max(peak, end) / MIB,
            "growth": end / warm - 1, "dataset_slices": len(dataset)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="folder of multicoil .h5 files")
    parser.add_argument("--slices", type=int, default=2000, help="slices to read")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    parser.add_argument("--warmup", type=int, default=200, help="slices read before the baseline")
    args = parser.parse_args()
    if not 0 < args.warmup < args.slices:
        parser.error("--warmup must lie between 0 and --slices")
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or simulated_data(Path(tmp))
        result = measure(data, args.slices, args.workers, args.warmup)
    header = ["slices read", "workers", "memory after warm-up", "at the end", "peak", "growth"]
    row = [f"{args.slices} (of {result['dataset_slices']})", args.workers,
           *(f"{result[key]:.0f} MiB" for key in ("warm", "end", "peak")),
           f"{100 * result['growth']:+.1f}%"]  # fmt: skip
    print(format_table(header, [row], left=0, markdown=True))


if __name__ == "__main__":
    main()
