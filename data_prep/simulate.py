"""Simulate a fastMRI-format dataset: magnitude images in, ``{challenge}_{split}/*.h5`` out.

Top to bottom, as a script would run:
1. open and check the source, and refuse to replace existing output unless asked to;
2. for each volume: draw a varied magnitude volume, give it phase and coil sensitivities, take its
   k-space on a readout-oversampled grid, add noise, zero the unacquired edge lines;
3. compute the targets from that k-space exactly as fastMRI does, and write the file;
4. test-split files get undersampled k-space and a mask; their full data goes to
   ``{challenge}_test_truth`` under the same file name.
"""

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from data_prep import physics
from data_prep.config import SimulationConfig
from data_prep.sources import ImageSource, open_source
from mri_recon.data.fastmri_file import DATASET, Encoding, write_volume
from mri_recon.data.fastmri_format import split_dir
from mri_recon.data.io import check_owned
from mri_recon.data.marks import is_ours
from mri_recon.data.masks import create_mask

TRUTH_SPLIT = "test_truth"


@dataclass(frozen=True)
class SimulatedVolume:
    """One simulated volume before it is written: fully sampled k-space, targets, attributes."""

    kspace: np.ndarray  # (slices, H, W) singlecoil or (slices, coils, H, W) multicoil, complex64
    targets: dict[str, np.ndarray]  # target key -> (slices, R, R) float32
    attrs: dict[str, object]  # acquisition, max, norm, patient_id


def output_folders(output: Path, challenge: str) -> dict[str, Path]:
    """The folders a run writes: one per split plus the test split's ground truth."""
    folders = {split: split_dir(output, challenge, split) for split in ("train", "val", "test")}
    return {**folders, TRUTH_SPLIT: Path(output) / f"{challenge}_{TRUTH_SPLIT}"}


def file_name(seed: int, index: int) -> str:
    """The file name of volume ``index``; unique across splits and, with the seed, across runs."""
    return f"file_sim{seed}_{index:04d}.h5"


def patient_id(seed: int, index: int) -> str:
    """A fastMRI-like 64-hex-digit patient id, unique per (seed, volume)."""
    return hashlib.sha256(f"mri-recon-simulated:{seed}:{index}".encode()).hexdigest()


def test_volumes(config: SimulationConfig) -> dict[str, int]:
    """The test split's file names and each one's acceleration, as ``simulate_dataset`` writes
    them (volumes are numbered train first, then val, then test; accelerations cycle)."""
    counts = config.split_counts()
    first = counts["train"] + counts["val"]
    return {
        file_name(config.seed, first + i): config.test_accelerations[
            i % len(config.test_accelerations)
        ]
        for i in range(counts["test"])
    }


def test_mask(
    name: str, width: int, pad_lines: int, mask_type: str, center_fraction: float, acceleration: int
) -> tuple[np.ndarray, int]:
    """The test mask of file ``name``: fastMRI's mask seeded by the file name, edges unacquired.

    The seed, ``tuple(map(ord, name))``, is the one fastmri's transforms use for a fixed mask.

    Returns:
        ``(mask, num_low_frequencies)``: a (W,) bool mask and the fully sampled centre's width.
    """
    mask_func = create_mask(mask_type, [center_fraction], [acceleration])
    mask, num_low = mask_func((1, width, 1), seed=tuple(map(ord, name)))
    mask = mask.reshape(-1).numpy().astype(bool)
    mask[:pad_lines] = False
    mask[width - pad_lines :] = False
    return mask, int(num_low)


def simulate_volume(
    config: SimulationConfig, source: ImageSource, index: int, acquisition: str
) -> SimulatedVolume:
    """Simulates fully sampled volume number ``index``; deterministic in (config, index)."""
    rng = np.random.default_rng([config.seed, index])
    height, width = config.kspace_shape
    fine = physics.SUPERSAMPLE
    # The object at SUPERSAMPLE times the final resolution, on the fine version of the (H, W) field.
    volume = source.volume(rng, index, config.slices_per_volume, fine * config.recon_size)
    y, x = physics.grid(fine * height, fine * width, fine * config.recon_size)
    maps = physics.coil_maps(rng, config.num_coils, y, x)
    phase = physics.random_phase_coefficients(rng)
    heights = np.linspace(-1, 1, len(volume)) if len(volume) > 1 else np.zeros(1)
    kspace = np.empty((len(volume), config.num_coils, height, width), dtype=np.complex64)
    for i, (image, z) in enumerate(zip(volume, heights)):
        field = physics.place_object(image, fine * height, fine * width)
        field = field * np.exp(1j * physics.phase_map(phase, y, x, z))
        kspace[i] = physics.truncated_kspace((maps * field).astype(np.complex64), (height, width))
    kspace = physics.add_noise(kspace, config.noise_level, rng)
    physics.zero_unacquired(kspace, config.pad_lines, width - 1 - config.pad_lines)
    # Targets from the simulated k-space itself, as fastMRI computes them.
    targets = {"reconstruction_rss": physics.rss_target(kspace, config.recon_size)}
    main = targets["reconstruction_rss"]
    if config.challenge == "singlecoil":
        kspace = kspace[:, 0]
        main = targets["reconstruction_esc"] = physics.esc_target(kspace, config.recon_size)
    attrs = {
        "acquisition": acquisition,
        "max": float(main.max()),
        "norm": float(np.linalg.norm(main)),
        "patient_id": patient_id(config.seed, index),
    }
    return SimulatedVolume(kspace, targets, attrs)


@dataclass(frozen=True)
class SimulationSummary:
    """What a run wrote."""

    output: Path
    files: dict[str, list[Path]]  # folder key (split or test_truth) -> files written
    kspace_shape: tuple[int, ...]  # of the first volume
    target_shape: tuple[int, ...]
    source: str
    seconds: float

    @property
    def num_bytes(self) -> int:
        """Size on disk of the files written."""
        return sum(path.stat().st_size for paths in self.files.values() for path in paths)

    def __str__(self) -> str:
        lines = [f"wrote {sum(map(len, self.files.values()))} files to {self.output}"]
        for paths in self.files.values():
            if paths:
                lines.append(f"  {paths[0].parent.name + '/':24} {len(paths):4d} files")
        lines += [
            f"  source: {self.source}",
            f"  per volume: kspace {self.kspace_shape} complex64, "
            f"target {self.target_shape} float32",
            f"  {self.num_bytes / 2**20:.1f} MiB on disk, {self.seconds:.1f} s",
        ]
        return "\n".join(lines)


def check_output(output: Path, folders: dict[str, Path], source: str, overwrite: bool) -> None:
    """Refuses output into the source's own folder, and existing ``.h5`` files unless
    ``overwrite``; even then, every one must be a dataset file mri-recon wrote (they are replaced,
    or removed as stale): anything else is never touched."""
    for path in (output, *folders.values()):
        if path.exists() and not path.is_dir():
            raise ValueError(f"--output {output}: {path} exists and is not a folder")
    source_path = Path(source)
    if source_path.exists():
        source_dir = (source_path if source_path.is_dir() else source_path.parent).resolve()
        for folder in folders.values():
            if folder.resolve() == source_dir:
                raise ValueError(
                    f"--output {output}: would write into the source folder {source_dir}"
                )
    existing = [file for folder in folders.values() for file in _volumes(folder)]
    if existing and not overwrite:
        raise FileExistsError(
            f"--output {output}: {existing[0].parent} already holds .h5 files "
            "(pass --overwrite to replace them)"
        )
    check_owned(existing, DATASET, f"--output {output}")


def _volumes(folder: Path) -> list[Path]:
    """The ``.h5`` files of ``folder`` (none when it is missing)."""
    return sorted(folder.glob("*.h5")) if folder.is_dir() else []


def write_test_volume(
    volume: SimulatedVolume,
    name: str,
    folders: dict[str, Path],
    encoding: Encoding,
    config: SimulationConfig,
    test_index: int,
    overwrite: bool,
) -> tuple[Path, Path]:
    """Writes a test file (undersampled, no target) and its fully sampled ground truth.

    Test files cycle over the test accelerations, in the order of ``test_index``.

    Returns:
        The (test, truth) paths.
    """
    which = test_index % len(config.test_accelerations)
    acceleration = config.test_accelerations[which]
    center_fraction = config.test_center_fractions[which]
    width = config.width
    mask, num_low = test_mask(
        name, width, config.pad_lines, config.test_mask_type, center_fraction, acceleration
    )
    sampling = {"acceleration": acceleration, "num_low_frequency": num_low}
    test_attrs = {key: volume.attrs[key] for key in ("acquisition", "patient_id")} | sampling
    truth = write_volume(
        folders[TRUTH_SPLIT] / name,
        volume.kspace,
        encoding,
        volume.attrs | sampling,
        volume.targets,
        overwrite=overwrite,
    )
    test = folders["test"] / name
    write_volume(test, volume.kspace * mask, encoding, test_attrs, mask=mask, overwrite=overwrite)
    return test, truth


def simulate_dataset(
    config: SimulationConfig, output: str | Path, overwrite: bool = False, progress: bool = True
) -> SimulationSummary:
    """Simulates and writes a whole dataset.

    Args:
        config: what to simulate.
        output: root folder; files go to ``output/{challenge}_{train,val,test,test_truth}/``.
        overwrite: replace existing output; files of an earlier run that this run does not write
            are removed from those folders at the end. Only dataset files mri-recon wrote are
            ever replaced or removed: any other ``.h5`` file there stops the run up front.
        progress: show a progress bar.

    Returns:
        A summary of what was written; ``str()`` of it is a readable report.

    Raises:
        SourceError, ValueError, FileExistsError: before anything is written.
    """
    start = time.perf_counter()
    output = Path(output)
    folders = output_folders(output, config.challenge)
    counts = config.split_counts()
    source = open_source(config.source)
    check_output(output, folders, config.source, overwrite)
    acquisition = config.acquisition or source.acquisition
    height, width = config.kspace_shape
    encoding = Encoding(
        encoded=(height, width),
        recon=(config.recon_size, config.recon_size),
        pe_first=config.pad_lines,
        pe_last=width - 1 - config.pad_lines,
        num_coils=config.num_coils,
    )
    # Volumes are numbered across splits: train first, then val, then test.
    splits = [split for split, count in counts.items() for _ in range(count)]
    written: dict[str, list[Path]] = {key: [] for key in folders}
    shapes: tuple[tuple[int, ...], ...] = ()
    bar = tqdm(splits, desc="simulating", unit="volume", disable=not progress)
    for index, split in enumerate(bar):
        volume = simulate_volume(config, source, index, acquisition)
        shapes = shapes or (volume.kspace.shape, next(iter(volume.targets.values())).shape)
        name = file_name(config.seed, index)
        if split == "test":
            test_index = len(written["test"])
            test, truth = write_test_volume(
                volume, name, folders, encoding, config, test_index, overwrite
            )
            written["test"].append(test)
            written[TRUTH_SPLIT].append(truth)
        else:
            path = folders[split] / name
            written[split].append(
                write_volume(
                    path, volume.kspace, encoding, volume.attrs, volume.targets, overwrite=overwrite
                )
            )
    # With overwrite, files of an earlier run that this run did not rewrite would mix in; each
    # was checked to be a dataset file of mri-recon's before anything was written.
    for key, folder in folders.items():
        for stale in _volumes(folder):
            if stale not in written[key] and is_ours(stale, DATASET):
                stale.unlink()
    seconds = time.perf_counter() - start
    return SimulationSummary(output, written, *shapes, source.description, seconds)
