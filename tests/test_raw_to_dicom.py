"""The path of docs/own-data.md in one command: a folder of ISMRMRD raw scans (fully sampled and
undersampled, single- and multi-slice) reconstructs into fastMRI files and DICOM series that a
DICOM toolkit reads without errors, whose pixels equal the HDF5 reconstructions and whose images
sit where the raw data's geometry puts them."""

from pathlib import Path

import numpy as np
import pytest

from tests.data.ismrmrd_scans import every_fourth, geometry, simulated_kspace, write_scan
from tests.dicom_checks import read_series, toolkit_problems
from tests.helpers import read_volume, run_main


@pytest.fixture(scope="module")
def raw_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("raw")
    write_scan(folder / "full.h5", simulated_kspace())
    write_scan(folder / "under.h5", simulated_kspace(index=1), mask=every_fourth())
    write_scan(folder / "one_slice_under.h5", simulated_kspace(index=2)[:1], mask=every_fourth())
    return folder


def test_raw_scans_to_dicom_series_in_one_command(
    raw_folder: Path, tiny_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    code, stdout, err = run_main(
        capsys, "reconstruct", "--checkpoint", tiny_checkpoint, "--data-path", raw_folder,
        "--output-path", out, "--dicom", "--accelerations", "4",
    )  # fmt: skip
    assert code == 0, err
    assert "wrote 3 reconstructions" in stdout
    for name in ("full", "under", "one_slice_under"):
        volume = read_volume(out / f"{name}.h5")
        images, restored = read_series(out / f"{name}_dicom")
        assert len(images) == volume.shape[0]
        # 16-bit pixels with one slope and intercept per series: within 1e-4 of the maximum
        assert np.abs(restored - volume).max() <= 1e-4 * np.abs(volume).max()
        assert toolkit_problems(out / f"{name}_dicom") == []
        for k, image in enumerate(images):
            placed = geometry(k)
            row_dir, column_dir = placed["phase_dir"], placed["read_dir"]
            np.testing.assert_allclose(
                [float(v) for v in image.ImageOrientationPatient], [*row_dir, *column_dir],
                atol=1e-5,
            )  # fmt: skip
            # The slice's centre, pixel (rows // 2, columns // 2), is the raw data's position.
            spacing = [float(v) for v in image.PixelSpacing]  # (between rows, between columns)
            corner = np.array([float(v) for v in image.ImagePositionPatient])
            centre = (corner + (image.Rows // 2) * spacing[0] * np.array(column_dir)
                      + (image.Columns // 2) * spacing[1] * np.array(row_dir))  # fmt: skip
            np.testing.assert_allclose(centre, placed["position"], atol=1e-3)
