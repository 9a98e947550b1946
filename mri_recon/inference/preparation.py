"""Run preparation: a checkpoint, a data folder and the command's options in, everything a run of
the network needs out, with one set of rules and messages for every command.

The rules: the challenge is the one given, else the checkpoint's, else the data's (read from the
first file's k-space rank); all that are known must agree. Mask settings are the options', else
the checkpoint's (``MaskOptions.resolve``); fastMRI's published weights record neither, and a
recipe (``--config``) stands in for them. The device is CUDA when asked for or available
(``auto``), and the network's precision is resolved for that device (``mri_recon.precision``).
Errors are ``ValueError``/``FileNotFoundError`` whose one-line message names the command-line
argument or the file at fault.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from mri_recon.data.fastmri_format import KSPACE_KEY, check_challenge
from mri_recon.data.file_check import BadFileError, open_volume
from mri_recon.data.folder import list_volume_files
from mri_recon.data.slice_dataset import SliceDataset
from mri_recon.inference.volumes import (
    VolumeFailure,
    VolumeResult,
    reconstruct_volumes,
    volume_dataset,
)
from mri_recon.models.checkpoint import ReconCheckpoint, load_checkpoint
from mri_recon.options import MaskOptions, MaskSettings, RunOptions
from mri_recon.precision import resolve_precision
from mri_recon.recipes import read_recipe

MASK_OPTIONS = "--accelerations (and --mask-type, --center-fractions)"


def data_files(data_path: Path) -> list[Path]:
    """The ``.h5`` volumes of ``data_path``; errors name the ``data-path`` argument."""
    try:
        return list_volume_files(data_path)
    except ValueError as error:
        raise ValueError(f"data-path: {str(error).removeprefix('root: ')}") from None


def data_challenge(files: list[Path], skip_bad_files: bool = False) -> str:
    """The challenge of a data folder, from its first file's k-space rank (4-D = multicoil);
    with ``skip_bad_files``, from its first file that has a k-space.

    Raises:
        BadFileError: the file is unreadable or has no k-space (every file, when skipping).
    """
    for file in files:
        try:
            with open_volume(file) as hf:
                if KSPACE_KEY not in hf:
                    raise BadFileError(file, f"no {KSPACE_KEY!r} dataset")
                return "multicoil" if hf[KSPACE_KEY].ndim == 4 else "singlecoil"
        except BadFileError as error:
            if not skip_bad_files:
                raise
            last_error = error
    raise last_error


def select_device(accelerator: str) -> torch.device:
    """``cpu``, ``gpu`` (CUDA, required) or ``auto`` (CUDA when available)."""
    if accelerator == "gpu" and not torch.cuda.is_available():
        raise ValueError("accelerator: gpu requested but no CUDA device is available")
    use_gpu = accelerator != "cpu" and torch.cuda.is_available()
    return torch.device("cuda" if use_gpu else "cpu")


@dataclass
class PreparedRun:
    """A data folder ready to be run through a network (or the zero-filled baseline).

    Attributes:
        data_path: the folder of ``.h5`` volumes.
        files: its volumes, in name order.
        challenge: ``singlecoil`` or ``multicoil``.
        mask: how fully sampled files are undersampled; ``None``: only stored masks.
        device: where the network runs.
        precision: the network's precision on ``device``, ``bf16`` or ``32`` (resolved).
        checkpoint: the trained network and its settings; ``None`` for the zero-filled baseline.
        options: batch size, device choice, workers and whether to skip bad files.
    """

    data_path: Path
    files: list[Path]
    challenge: str
    mask: MaskSettings | None
    device: torch.device
    checkpoint: ReconCheckpoint | None
    options: RunOptions
    precision: str = "32"

    @property
    def mask_advice(self) -> str:
        """What to give to undersample fully sampled files: the mask options, or for fastMRI
        weights without a recipe, the recipe they were trained with."""
        loaded = self.checkpoint
        if loaded is not None and loaded.published and loaded.recipe is None:
            example = "varnet" if loaded.net_name == "VarNet" else "unet"
            return (
                f"give --config RECIPE (the recipe of {loaded.path.name}, e.g. "
                f"{example}_knee_multicoil: fastMRI's weights record no masks) or {MASK_OPTIONS}"
            )
        return f"give {MASK_OPTIONS}"

    def dataset(
        self, names: Iterable[str] | None = None, mask: MaskSettings | None = None
    ) -> SliceDataset:
        """The slices of the files ``names`` (all by default), undersampled with ``mask``
        (default: the run's) where a file has no stored mask."""
        mask = mask if mask is not None else self.mask
        skip = self.options.skip_bad_files
        net = self.checkpoint.net if self.checkpoint is not None else None
        return volume_dataset(self.data_path, self.challenge, mask, names, skip, net)

    def volumes(
        self, dataset: SliceDataset, progress: bool = True
    ) -> Iterator[VolumeResult | VolumeFailure]:
        """Each volume of ``dataset`` through the checkpoint's network (``reconstruct_volumes``;
        without a checkpoint the reconstruction is the zero-filled image), or its failure."""
        net = self.checkpoint.net if self.checkpoint is not None else None
        batch_size, workers = self.options.batch_size, self.options.num_workers
        return reconstruct_volumes(
            net,
            dataset,
            self.device,
            batch_size,
            workers,
            progress,
            self.precision,
            self.options.compile,
        )


def prepare_run(
    data_path: str | Path,
    checkpoint: str | Path | None = None,
    challenge: str | None = None,
    mask: MaskOptions | None = None,
    options: RunOptions | None = None,
    recipe: str | None = None,
) -> PreparedRun:
    """Checks the arguments of a run and resolves its challenge, masks and device.

    Args:
        data_path: folder of fastMRI ``.h5`` files.
        checkpoint: an ``mri-recon fit`` checkpoint or fastMRI's weights; ``None`` runs the
            zero-filled baseline.
        challenge: ``singlecoil`` or ``multicoil``; by default the checkpoint's, else the data's.
        mask: mask options (default: none given); gaps are filled from the checkpoint's
            training settings.
        options: batch size, accelerator and workers (default: ``RunOptions()``).
        recipe: for fastMRI's weights, the recipe (bundled name or YAML file) giving their
            challenge and masks.

    Raises:
        ValueError, FileNotFoundError: a bad argument, named in the one-line message.
    """
    data_path, mask, options = Path(data_path), mask or MaskOptions(), options or RunOptions()
    if recipe is not None and checkpoint is None:
        raise ValueError("config: a recipe goes with --checkpoint (fastMRI's published weights)")
    files = data_files(data_path)
    read = read_recipe(recipe) if recipe is not None else None
    loaded = load_checkpoint(checkpoint, read) if checkpoint is not None else None
    recorded = loaded.data if loaded is not None else None
    trained_on = recorded["challenge"] if recorded else None
    in_data = data_challenge(files, options.skip_bad_files)
    given, challenge = challenge, check_challenge(challenge) if challenge else trained_on or in_data
    if trained_on and challenge != trained_on:
        if read is not None:
            raise ValueError(f"config {recipe}: a recipe for {trained_on} data, not {challenge}")
        raise ValueError(f"checkpoint {checkpoint}: trained on {trained_on} data, not {challenge}")
    if in_data != challenge:
        source = f"config {recipe}'s" if read else f"checkpoint {checkpoint}'s"
        whose = f" ({source})" if trained_on and not given else ""
        raise ValueError(f"data-path: {data_path} holds {in_data} data, not {challenge}{whose}")
    device = select_device(options.accelerator)
    return PreparedRun(
        data_path=data_path,
        files=files,
        challenge=challenge,
        mask=mask.resolve(recorded),
        device=device,
        checkpoint=loaded,
        options=options,
        precision=resolve_precision(options.precision, device),
    )
