"""The fastMRI file layout: challenge names, split folders, HDF5 keys and the ISMRMRD namespace.

One place for the names that the data layer reads and the simulator and the ISMRMRD conversion
write.
"""

from pathlib import Path

CHALLENGES = ("singlecoil", "multicoil")
SPLITS = ("train", "val", "test")

ISMRMRD_NAMESPACE = "http://www.ismrm.org/ISMRMRD"

KSPACE_KEY = "kspace"
MASK_KEY = "mask"
HEADER_KEY = "ismrmrd_header"
RECONSTRUCTION_KEY = "reconstruction"  # fastMRI's submission files
ESC_KEY = "reconstruction_esc"  # singlecoil targets (emulated single coil)
RSS_KEY = "reconstruction_rss"  # multicoil targets (root sum of squares)
# Files converted from ISMRMRD raw data: (slices, 12) float32 per slice, the position (mm) and the
# read, phase and slice directions of its first acquisition, in ISMRMRD's patient coordinates
# (mri_recon.data.ismrmrd). Readers that do not place images ignore it.
SLICE_GEOMETRY_KEY = "slice_geometry"
RAW_GROUP = "dataset"  # the HDF5 group of an ISMRMRD raw file (header and acquisitions)

# fastMRI's pairing of acceleration and centre fraction (4x with 8% of the centre lines, 8x with
# 4%): the default wherever only accelerations are given.
STANDARD_CENTER_FRACTIONS = {4: 0.08, 8: 0.04}


def check_challenge(challenge: str) -> str:
    """Returns ``challenge`` unchanged, or raises ``ValueError`` naming the valid choices."""
    if challenge not in CHALLENGES:
        raise ValueError(f"challenge must be one of {CHALLENGES}, got {challenge!r}")
    return challenge


def target_key(challenge: str) -> str:
    """The HDF5 key of the fully sampled target: ESC for singlecoil, RSS for multicoil."""
    check_challenge(challenge)
    return ESC_KEY if challenge == "singlecoil" else RSS_KEY


def split_dir(root: str | Path, challenge: str, split: str) -> Path:
    """The folder of one split, ``root/{challenge}_{split}``, as fastMRI names it."""
    check_challenge(challenge)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return Path(root) / f"{challenge}_{split}"
