"""The demo dataset: multicoil brain k-space simulated from the MNI152 template.

Its settings live here, once, in ``DEMO_CONFIG``. ``build_demo_dataset`` is what
``python -m data_prep demo`` and ``mri-recon demo`` call. It records what it built in
``demo_manifest.json``, so a rerun finds a complete dataset and reuses it instead of simulating
it again.
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from data_prep.config import SimulationConfig
from data_prep.simulate import SimulationSummary, simulate_dataset
from mri_recon.data.fastmri_file import DATASET
from mri_recon.data.io import check_owned
from mri_recon.report import write_json

MANIFEST_NAME = "demo_manifest.json"

# 24 train / 6 val / 6 test volumes of 6 axial slices, 8 coils, 128 x 128 targets, (256, 128)
# k-space: about 530 MiB, built in well under a minute on 2 CPU cores.
DEMO_CONFIG = SimulationConfig(
    source="mni152",
    challenge="multicoil",
    coils=8,
    recon_size=128,
    num_volumes=36,
    slices_per_volume=6,
    val_fraction=1 / 6,
    test_fraction=1 / 6,
    noise_level=0.01,
    pad_lines=0,
    seed=0,
)


@dataclass(frozen=True)
class DemoSummary:
    """The demo dataset's summary, and whether an existing one was reused."""

    summary: SimulationSummary
    reused: bool

    def __str__(self) -> str:
        if not self.reused:
            return f"built the demo dataset\n{self.summary}"
        # The summary's first and last lines report writing; the rest describes the dataset.
        lines = str(self.summary).splitlines()[1:-1]
        size = f"  {self.summary.num_bytes / 2**20:.1f} MiB on disk"
        return "\n".join(
            [f"demo dataset already complete in {self.summary.output}, reusing it", *lines, size]
        )


def _manifest(config: SimulationConfig, summary: SimulationSummary) -> dict:
    """What ``demo_manifest.json`` records: the settings and every file written."""
    return {
        "config": asdict(config),
        "files": {key: [path.name for path in paths] for key, paths in summary.files.items()},
        "kspace_shape": list(summary.kspace_shape),
        "target_shape": list(summary.target_shape),
        "source": summary.source,
    }


def _complete_summary(output: Path, config: SimulationConfig) -> SimulationSummary | None:
    """The summary of a complete demo dataset in ``output`` made with ``config``, else ``None``."""
    try:
        manifest = json.loads((output / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("config") != json.loads(json.dumps(asdict(config))) or "files" not in manifest:
        return None
    prefix = config.challenge
    files = {
        key: [output / f"{prefix}_{key}" / name for name in names]
        for key, names in manifest["files"].items()
    }
    if not all(path.is_file() for paths in files.values() for path in paths):
        return None
    shapes = tuple(manifest["kspace_shape"]), tuple(manifest["target_shape"])
    return SimulationSummary(output, files, *shapes, manifest["source"], seconds=0.0)


def build_demo_dataset(
    output: str | Path,
    overwrite: bool = False,
    config: SimulationConfig = DEMO_CONFIG,
    progress: bool = True,
) -> DemoSummary:
    """Builds the demo dataset in ``output``, or reuses it if a complete one is there already.

    Args:
        output: root folder; files go to ``output/multicoil_{train,val,test,test_truth}/``.
        overwrite: rebuild even if a complete demo dataset exists.
        config: the settings; tests pass a smaller one.
        progress: show a progress bar.

    Returns:
        A ``DemoSummary``; ``str()`` of it lists folders, file counts, shapes and size on disk.

    Raises:
        FileExistsError: ``output`` holds files in the way that mri-recon did not write as a
            dataset (they are never replaced); nothing is written then.
    """
    output = Path(output)
    existing = None if overwrite else _complete_summary(output, config)
    if existing is not None:
        return DemoSummary(existing, reused=True)
    manifest = output / MANIFEST_NAME
    check_owned([manifest], DATASET, f"--output {output}")
    # Replaces the dataset files of an earlier (partial or other) build, which carry the mark.
    summary = simulate_dataset(config, output, overwrite=True, progress=progress)
    write_json(manifest, _manifest(config, summary), DATASET, overwrite=True)
    return DemoSummary(summary, reused=False)
