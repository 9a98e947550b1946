"""Image sources for the simulator: procedural phantoms, the MNI152 template, NIfTI and NumPy files.

``open_source`` turns the ``--source`` argument into an ``ImageSource`` and checks it fully (files
exist, load, hold 2-D or 3-D finite images) before anything is simulated, so bad input fails up
front. A source then hands out one random magnitude volume per call, on a square grid.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_prep.phantoms import phantom_volume
from data_prep.variation import vary_stack
from mri_recon.nifti import NIFTI_SUFFIXES

# fastMRI-style acquisition names given to each kind of source unless the user picks one.
DEFAULT_ACQUISITION = {
    "phantom": "CORPD_FBK",
    "mni152": "AXT1",
    "nifti": "IMPORTED",
    "npy": "IMPORTED",
}


class SourceError(ValueError):
    """A ``--source`` that cannot be used: unknown, missing or unreadable."""


@dataclass(frozen=True)
class ImageSource:
    """Where magnitude images come from.

    Attributes:
        kind: ``phantom``, ``mni152``, ``nifti`` or ``npy``.
        stacks: (depth, H, W) float32 image stacks; empty for phantoms, which are drawn on demand.
        description: what was loaded, for the closing summary.
    """

    kind: str
    stacks: tuple[np.ndarray, ...] = ()
    description: str = ""

    @property
    def acquisition(self) -> str:
        """The default ``acquisition`` attribute for files made from this source."""
        return DEFAULT_ACQUISITION[self.kind]

    def volume(
        self, rng: np.random.Generator, index: int, num_slices: int, size: int
    ) -> np.ndarray:
        """Volume number ``index``: a new phantom, or a random view of stack ``index % len``.

        Returns:
            (slices, size, size) float32 magnitude volume with a maximum of 1.
        """
        if self.kind == "phantom":
            return phantom_volume(rng, num_slices, size)
        return vary_stack(rng, self.stacks[index % len(self.stacks)], num_slices, size)


def _as_stack(data: np.ndarray, name: str) -> np.ndarray:
    """Checks an image array and returns it as a non-negative (depth, H, W) float32 stack."""
    data = np.squeeze(np.asarray(data))
    if np.iscomplexobj(data):
        data = np.abs(data)
    if data.ndim not in (2, 3) or min(data.shape) < 2 or not np.issubdtype(data.dtype, np.number):
        raise SourceError(f"--source {name}: expected a 2-D or 3-D numeric image, got {data.shape}")
    if not np.isfinite(data).all():
        raise SourceError(f"--source {name}: the image holds NaN or infinite values")
    stack = np.abs(data.astype(np.float32))
    if stack.max() <= 0:
        raise SourceError(f"--source {name}: the image is all zeros")
    return crop_to_foreground(stack[None] if stack.ndim == 2 else stack)


def crop_to_foreground(stack: np.ndarray) -> np.ndarray:
    """Crops empty in-plane background, keeping a margin, so the anatomy fills the field of view."""
    rows, cols = np.nonzero((stack > 0.05 * stack.max()).any(axis=0))
    margin = max(2, round(0.04 * max(stack.shape[1:])))
    top, bottom = max(rows.min() - margin, 0), rows.max() + margin + 1
    left, right = max(cols.min() - margin, 0), cols.max() + margin + 1
    return stack[:, top:bottom, left:right]


def _axial_stack(image: object, name: str) -> np.ndarray:
    """A nibabel image as axial slices, anterior up and in radiological left-right order."""
    import nibabel as nib

    try:
        data = nib.as_closest_canonical(image).get_fdata(dtype=np.float32)
    except Exception as error:
        raise SourceError(f"--source {name}: cannot read the NIfTI data ({error})") from None
    data = np.squeeze(data)
    if data.ndim == 3:
        # RAS (x, y, z) -> (z, y from anterior to posterior, x from right to left)
        data = np.transpose(data, (2, 1, 0))[:, ::-1, ::-1]
    elif data.ndim == 2:
        data = data.T[::-1, ::-1]
    return _as_stack(data, name)


def load_nifti(path: Path) -> np.ndarray:
    """Loads a NIfTI file as an axial (depth, H, W) stack."""
    try:
        import nibabel as nib
    except ImportError:
        raise SourceError(
            f"--source {path}: NIfTI needs nibabel (pip install 'mri-recon[nifti]')"
        ) from None
    try:
        image = nib.load(path)
    except Exception as error:
        raise SourceError(f"--source {path}: not a readable NIfTI file ({error})") from None
    return _axial_stack(image, str(path))


def load_npy(path: Path) -> np.ndarray:
    """Loads a ``.npy`` file holding one 2-D image or a (slices, H, W) stack."""
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as error:
        raise SourceError(f"--source {path}: not a readable .npy array ({error})") from None
    return _as_stack(data, str(path))


def load_mni152() -> np.ndarray:
    """The 1 mm MNI152 T1 template that ships inside nilearn (read locally, never downloaded)."""
    try:
        from nilearn.datasets import load_mni152_template
    except ImportError:
        raise SourceError(
            "--source mni152: needs nilearn (pip install 'mri-recon[mni152]')"
        ) from None
    return _axial_stack(load_mni152_template(resolution=1), "mni152")


def _is_nifti(path: Path) -> bool:
    return path.name.endswith(NIFTI_SUFFIXES)


def open_source(spec: str) -> ImageSource:
    """Opens and checks the source named by ``--source``.

    Args:
        spec: ``phantom``, ``mni152``, a ``.npy`` file, a NIfTI file, or a folder of NIfTI files.

    Returns:
        The loaded ``ImageSource``.

    Raises:
        SourceError: the source is unknown, missing or unreadable; the message names it.
    """
    if spec == "phantom":
        return ImageSource("phantom", description="procedural phantoms (ellipses and heads)")
    if spec == "mni152":
        stack = load_mni152()
        return ImageSource("mni152", (stack,), f"MNI152 T1 1 mm template {stack.shape}")
    path = Path(spec)
    if not path.exists():
        raise SourceError(
            f"--source {spec}: no such file or folder (expected phantom, mni152, "
            "a .npy file, a NIfTI file or a folder of NIfTI files)"
        )
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if _is_nifti(p))
        if not files:
            raise SourceError(f"--source {spec}: the folder holds no .nii or .nii.gz files")
        stacks = tuple(load_nifti(p) for p in files)
        return ImageSource("nifti", stacks, f"{len(files)} NIfTI files from {path}")
    if _is_nifti(path):
        stack = load_nifti(path)
        return ImageSource("nifti", (stack,), f"NIfTI {path} {stack.shape}")
    if path.suffix == ".npy":
        stack = load_npy(path)
        return ImageSource("npy", (stack,), f"NumPy {path} {stack.shape}")
    raise SourceError(f"--source {spec}: unknown file type (expected .npy, .nii or .nii.gz)")
