"""``mri-recon check-data``: every check the loaders run, and those too costly for every start.

For each folder of ``.h5`` volumes (a data root with ``{challenge}_{split}`` folders is checked
split by split): every file's structure, every slice's values (NaN, inf), header sizes against the
arrays, mask settings against each k-space width (when given), one challenge per folder, and the
image sizes the folder mixes, which decide the batch sizes it allows. One line per problem, a
summary per folder and overall; exit status 1 when anything is wrong. Files are read one slice at
a time, so folders of any size fit in memory. ISMRMRD raw scans are checked as the fastMRI files
they convert to; one that cannot be converted is a problem, with the reason.
"""

import argparse
import warnings
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from mri_recon.data.fastmri_format import CHALLENGES
from mri_recon.data.folder import ignored_files, list_volume_files
from mri_recon.options import MaskOptions, MaskSettings, add_options, from_options

if TYPE_CHECKING:
    from tqdm import tqdm

# The mask options here say what to check each file's k-space width against (no checkpoint).
MASK_HELPS = {
    "mask_type": "mask type to check against each k-space width (default: random when "
    "--accelerations is given; no mask check without it)",
    "accelerations": "undersampling factors to check against each k-space width",
    "center_fractions": "fully sampled centre fraction per acceleration (default: 0.08 for 4x, "
    "0.04 for 8x)",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``check-data`` and its options."""
    parser = subparsers.add_parser(
        "check-data",
        help="check data folders completely before a long run",
        description="Check every file and slice of fastMRI data folders (or of ISMRMRD raw "
        "scans, checked as the fastMRI files they convert to): structure, NaN and infinite "
        "values, header sizes, mask settings against each width, one challenge and the image "
        "sizes per folder. Exit status 1 when a problem is found.",
    )
    parser.add_argument("folders", type=Path, nargs="+", metavar="DIR", help="data folders")
    parser.add_argument(
        "--challenge", choices=CHALLENGES, help="default: each folder's, from its first file"
    )
    add_options(parser, MaskOptions, helps=MASK_HELPS)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Runs ``check-data`` from parsed arguments; 1 when a problem was found."""
    mask = from_options(MaskOptions, args).resolve()
    problems = check_data(args.folders, args.challenge, mask)
    return 1 if problems else 0


def _volumes(folder: Path) -> list[Path]:
    """The volumes of ``folder`` (none when it has no ``.h5`` file); look-alikes are reported
    by ``check_folder``, not warned about here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return list_volume_files(folder)
        except ValueError:
            return []


def data_folders(folder: Path) -> dict[Path, list[Path]]:
    """The volumes of ``folder`` when it holds ``.h5`` files, else of each subfolder that does.

    Raises:
        ValueError: ``folder`` is not a folder, or holds no volumes at either level.
    """
    if not folder.is_dir():
        raise ValueError(f"DIR: {folder} is not a folder")
    if files := _volumes(folder):
        return {folder: files}
    subfolders = {sub: _volumes(sub) for sub in sorted(folder.iterdir()) if sub.is_dir()}
    found = {sub: files for sub, files in subfolders.items() if files}
    if not found:
        raise ValueError(f"DIR: {folder} holds no .h5 files, nor folders of them")
    return found


def batch_sizes(sizes: Counter) -> str:
    """What the image sizes of a folder allow: any batch size when they are all one size."""
    if len(sizes) <= 1:
        return "any batch size"
    listed = ", ".join(f"{h}x{w} ({n} files)" for (h, w), n in sorted(sizes.items()))
    return f"mixed image sizes {listed}: batch size 1 only"


def check_folder(
    folder: Path,
    files: list[Path],
    challenge: str | None,
    mask: MaskSettings | None,
    progress: "tqdm",
) -> tuple[list[str], str]:
    """The problems of one folder's ``files`` (printed as found) and the folder's summary line.

    Args:
        folder: the folder.
        files: its volumes.
        challenge: the challenge, or ``None`` for the folder's own (its first readable file's).
        mask: settings to check against each k-space width, or ``None``.
        progress: a bar over files.
    """
    from mri_recon.data.file_check import BadFileError
    from mri_recon.data.masks import check_mask_widths
    from mri_recon.data.scan import scan_file
    from mri_recon.inference.preparation import data_challenge

    problems = ignored_files(folder)
    for problem in problems:
        progress.write(problem)
    try:
        challenge = challenge or data_challenge(files, skip_bad_files=True)
    except BadFileError:
        challenge = challenge or CHALLENGES[0]  # no file readable: each is reported below
    sizes: Counter = Counter()
    slices = 0
    for file in files:
        progress.set_postfix_str(file.name)
        scanned = scan_file(file, challenge)
        slices += scanned.num_slices
        if scanned.sample_size is not None:
            sizes[scanned.sample_size] += 1
        layout = scanned.layout
        if mask is not None and layout is not None and not layout.has_mask:
            width = {layout.kspace_shape[-1]: "this file"}
            try:
                check_mask_widths(mask.mask_type, mask.center_fractions, mask.accelerations, width)
            except ValueError as error:
                scanned.problems.append(f"{file}: {error}")
        problems += scanned.problems
        for problem in scanned.problems:
            progress.write(problem)
        progress.update(1)
    summary = f"{folder}: {len(files)} files, {slices} slices, {challenge}, {batch_sizes(sizes)}"
    return problems, summary


def check_data(
    folders: list[Path], challenge: str | None = None, mask: MaskSettings | None = None
) -> list[str]:
    """Checks every file of ``folders``, printing each problem as found and a summary at the end.

    Args:
        folders: data folders (or roots of split folders).
        challenge: ``singlecoil`` or ``multicoil``; by default each folder's own.
        mask: ``MaskSettings`` to check against each k-space width, or ``None``.

    Returns:
        Every problem, one line each.
    """
    from tqdm import tqdm

    volumes = {sub: files for folder in folders for sub, files in data_folders(folder).items()}
    total = sum(len(files) for files in volumes.values())
    problems, summaries = [], []
    with tqdm(total=total, unit="file", desc="check-data") as progress:
        for folder, files in volumes.items():
            found, summary = check_folder(folder, files, challenge, mask, progress)
            problems += found
            summaries.append(summary)
    for line in summaries:
        print(line)
    bad_files = len({problem.split(": ", 1)[0] for problem in problems})
    print(f"{len(problems)} problem(s) in {bad_files} file(s)" if problems else "no problems")
    return problems
