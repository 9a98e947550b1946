"""Convert ISMRMRD raw scans into fastMRI-format files: ``python -m data_prep convert``.

Top to bottom, as a script would run:
1. list the raw files (files given, and the ``.h5`` files of folders given);
2. read each file's headers and plan its volumes (``mri_recon.data.ismrmrd``): every unsupported
   or malformed file is found here, before anything is written;
3. check every output: the folder outside the inputs' folders, nothing in the way unless
   ``--overwrite``, and then only dataset files mri-recon wrote;
4. convert and write each volume atomically, marked as a dataset file of mri-recon's with the
   raw file as its ``source``: ``OUT/<raw name>.h5``, or ``OUT/<raw name>_<counter><value>.h5``
   for counters written as separate files.
"""

import time
from dataclasses import dataclass, field
from pathlib import Path

import h5py
from tqdm import tqdm

from mri_recon.data.fastmri_file import DATASET
from mri_recon.data.folder import list_volume_files
from mri_recon.data.io import atomic_h5, check_output_folder, check_owned
from mri_recon.data.ismrmrd import ConvertedVolume, build_volume, read_plans, store_volume
from mri_recon.data.ismrmrd_plan import ConversionOptions, VolumePlan
from mri_recon.data.ismrmrd_read import IsmrmrdError, RawScan


@dataclass
class ConversionSummary:
    """What a run wrote: each output with a description of its content."""

    output: Path
    written: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0

    def __str__(self) -> str:
        count = len(self.written)
        lines = [f"wrote {count} fastMRI file{'' if count == 1 else 's'} to {self.output}"]
        lines += [f"  {path.name}: {description}" for path, description in self.written]
        lines.append(f"  {self.seconds:.1f} s")
        return "\n".join(lines)


def describe(volume: ConvertedVolume) -> str:
    """One line on a converted volume: layout, shape and sampling."""
    challenge = "multicoil" if volume.kspace.ndim == 4 else "singlecoil"
    shape = " x ".join(map(str, volume.kspace.shape))
    if volume.mask is None:
        height, width = next(iter(volume.targets.values())).shape[1:]
        return f"{challenge} k-space {shape}, fully sampled, target {height} x {width}"
    attrs = volume.attrs
    return (
        f"{challenge} k-space {shape}, undersampled {attrs['acceleration']}x "
        f"({volume.mask.sum()} lines, {attrs['num_low_frequency']} at the centre)"
    )


def raw_files(inputs: list[Path]) -> list[Path]:
    """The raw files given: files as they are, folders as their ``.h5`` files.

    Raises:
        ValueError: an input that does not exist, or a folder without ``.h5`` files.
    """
    files = []
    for path in inputs:
        if path.is_dir():
            try:
                files += list_volume_files(path)
            except ValueError as error:
                raise ValueError(f"RAW: {str(error).removeprefix('root: ')}") from None
        elif path.is_file():
            files.append(path)
        else:
            raise ValueError(f"RAW: {path} does not exist")
    return files


def plan_file(path: Path, options: ConversionOptions) -> tuple[RawScan, list[VolumePlan]]:
    """The headers of one raw file and its planned volumes.

    Raises:
        ValueError: one line naming the file and why it cannot be converted.
    """
    try:
        with h5py.File(path, "r") as hf:
            return read_plans(hf, options)
    except IsmrmrdError as error:
        raise ValueError(f"{path}: {error}") from None
    except OSError as error:
        raise ValueError(f"{path}: not a readable HDF5 file ({error})") from None


def convert_raw_files(
    inputs: list[Path],
    output: Path,
    options: ConversionOptions,
    overwrite: bool = False,
    progress: bool = True,
) -> ConversionSummary:
    """Converts ISMRMRD raw files into fastMRI-format files in ``output``.

    Args:
        inputs: raw files, or folders of them.
        output: the folder of the converted files (not one of the inputs' folders).
        options: prewhitening and the choice of repetition, contrast, set and phase.
        overwrite: replace converted files of an earlier run (never other files).
        progress: show a progress bar.

    Raises:
        ValueError, FileExistsError: one line naming the file or argument at fault, before
            anything is written (a file whose samples turn out malformed is not written).
    """
    start = time.perf_counter()
    files = raw_files(inputs)
    check_output_folder(output, "--output", inputs=sorted({file.parent for file in files}))
    planned = {file: plan_file(file, options) for file in files}
    destinations: dict[Path, Path] = {}
    for file, (_, plans) in planned.items():
        for plan in plans:
            destination = output / f"{file.stem}{plan.name_suffix}.h5"
            if destination in destinations:
                raise ValueError(
                    f"RAW: {destinations[destination]} and {file} both convert to {destination}"
                )
            destinations[destination] = file
    existing = check_owned(destinations, DATASET, "--output")
    if existing and not overwrite:
        raise FileExistsError(
            f"--output: {existing[0]} already exists (pass --overwrite to replace it)"
        )
    summary = ConversionSummary(output)
    total = sum(len(plans) for _, plans in planned.values())
    with tqdm(total=total, desc="converting", unit="volume", disable=not progress) as bar:
        for file, (scan, plans) in planned.items():
            with h5py.File(file, "r") as raw:
                for plan in plans:
                    try:
                        volume = build_volume(raw, scan, plan, options)
                    except IsmrmrdError as error:
                        raise ValueError(f"{file}: {error}") from None
                    destination = output / f"{file.stem}{plan.name_suffix}.h5"
                    with atomic_h5(destination, DATASET, overwrite, source=file.resolve()) as hf:
                        store_volume(hf, volume)
                    summary.written.append((destination, describe(volume)))
                    bar.update(1)
    summary.seconds = time.perf_counter() - start
    return summary
