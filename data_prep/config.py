"""The simulator's settings: one frozen dataclass, checked when it is made.

The command line (``data_prep/cli.py``) generates its ``simulate`` options from the fields (their
defaults, types and help; ``mri_recon.options``) and the demo (``data_prep/demo.py``) builds a
``SimulationConfig`` too: the field defaults are the simulator's only defaults.
"""

from dataclasses import dataclass

from mri_recon.data.fastmri_format import CHALLENGES, STANDARD_CENTER_FRACTIONS
from mri_recon.data.masks import MASK_TYPES, check_mask_arguments
from mri_recon.options import option

MIN_RECON_SIZE = 16


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. Errors name the command-line option of the offending field."""

    source: str = option(
        "phantom", "phantom, mni152, a .npy file, a NIfTI file or folder", required=True
    )
    challenge: str = option("multicoil", "singlecoil or multicoil", CHALLENGES, required=True)
    coils: int | None = option(None, "receiver coils (default: 1 singlecoil, 8 multicoil)")
    recon_size: int = option(128, "target side R; k-space is (2R, W), readout oversampled 2x")
    kspace_width: int | None = option(None, "phase-encode lines W >= R (default: R)")
    num_volumes: int = option(10, "volumes over all splits")
    slices_per_volume: int = option(8, "slices per volume (fewer if a source stack is thinner)")
    val_fraction: float = option(0.15, "share of volumes in the val split")
    test_fraction: float = option(0.15, "share in the test split (undersampled, truth apart)")
    test_accelerations: tuple[int, ...] = option(
        tuple(STANDARD_CENTER_FRACTIONS), "test files cycle over these", metavar="A"
    )
    test_center_fractions: tuple[float, ...] = option(
        tuple(STANDARD_CENTER_FRACTIONS.values()), "one per test acceleration", metavar="F"
    )
    test_mask_type: str = option("random", "the test files' mask type", MASK_TYPES)
    noise_level: float = option(0.01, "k-space noise std relative to the object's peak magnitude")
    pad_lines: int = option(0, "unacquired (zero) phase-encode lines at each edge of k-space")
    acquisition: str | None = option(
        None, "the files' acquisition attribute (default: by source, e.g. AXT1 for mni152)"
    )
    seed: int = option(0, "everything random derives from it: same seed, same files")

    def __post_init__(self) -> None:
        if self.challenge not in CHALLENGES:
            raise ValueError(f"--challenge must be one of {CHALLENGES}, got {self.challenge!r}")
        if self.challenge == "singlecoil" and self.coils not in (None, 1):
            raise ValueError(f"--coils: singlecoil data has one coil, got {self.coils}")
        if self.coils is not None and self.coils < 1:
            raise ValueError(f"--coils must be at least 1, got {self.coils}")
        if self.recon_size < MIN_RECON_SIZE:
            raise ValueError(
                f"--recon-size must be at least {MIN_RECON_SIZE}, got {self.recon_size}"
            )
        if self.kspace_width is not None and self.kspace_width < self.recon_size:
            raise ValueError(
                f"--kspace-width must be at least --recon-size ({self.recon_size}), "
                f"got {self.kspace_width}"
            )
        if self.num_volumes < 1:
            raise ValueError(f"--num-volumes must be at least 1, got {self.num_volumes}")
        if self.slices_per_volume < 1:
            raise ValueError(
                f"--slices-per-volume must be at least 1, got {self.slices_per_volume}"
            )
        for name, fraction in (("val", self.val_fraction), ("test", self.test_fraction)):
            if not 0 <= fraction < 1:
                raise ValueError(f"--{name}-fraction must lie in [0, 1), got {fraction}")
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError(
                "--val-fraction plus --test-fraction must be below 1 (train needs a share)"
            )
        try:
            check_mask_arguments(
                self.test_mask_type, self.test_center_fractions, self.test_accelerations
            )
        except ValueError as error:
            raise ValueError(f"--test-accelerations/--test-center-fractions: {error}") from None
        if not 0 <= self.pad_lines <= self.width // 4:
            raise ValueError(
                f"--pad-lines must lie in [0, {self.width // 4}] (a quarter of the "
                f"{self.width} phase-encode lines), got {self.pad_lines}"
            )
        if self.noise_level < 0:
            raise ValueError(f"--noise-level must be non-negative, got {self.noise_level}")
        if self.seed < 0:
            raise ValueError(f"--seed must be non-negative, got {self.seed}")
        self.split_counts()

    @property
    def num_coils(self) -> int:
        """Coils actually simulated."""
        if self.coils is not None:
            return self.coils
        return 1 if self.challenge == "singlecoil" else 8

    @property
    def width(self) -> int:
        """W, the number of phase-encode lines."""
        return self.kspace_width if self.kspace_width is not None else self.recon_size

    @property
    def kspace_shape(self) -> tuple[int, int]:
        """(H, W) of one coil's k-space: readout oversampled 2x."""
        return 2 * self.recon_size, self.width

    def split_counts(self) -> dict[str, int]:
        """Volumes per split: each split with a non-zero fraction gets at least one."""
        counts = {}
        for split, fraction in (("val", self.val_fraction), ("test", self.test_fraction)):
            counts[split] = max(1, round(self.num_volumes * fraction)) if fraction > 0 else 0
        train = self.num_volumes - counts["val"] - counts["test"]
        if train < 1:
            raise ValueError(
                f"--num-volumes: {self.num_volumes} volumes leave none for train after "
                f"{counts['val']} val and {counts['test']} test; simulate more volumes"
            )
        return {"train": train, **counts}
