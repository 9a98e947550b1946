"""PNG montage and comparison figures, read back with PIL and checked pixel by pixel."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mri_recon.figures import (
    GAP,
    LABEL_HEIGHT,
    TITLE_HEIGHT,
    ComparisonRow,
    save_comparison_png,
    save_preview_png,
)


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.mode == "L"
        return np.array(image)


def comparison_row(size: int = 128, title: str = "file_sim0_0030.h5  slice 3  4x") -> ComparisonRow:
    """Target 0.8 everywhere with a 1.0 square; the reconstruction differs by 0.04 in one block."""
    target = np.full((size, size), 0.8, np.float32)
    target[10:20, 30:40] = 1.0
    reconstruction = target.copy()
    reconstruction[100:110, 50:60] += 0.04
    zero_filled = np.full((size, size), 0.4, np.float32)
    return ComparisonRow(title, zero_filled, reconstruction, target)


def panel(figure: np.ndarray, column: int, panel_w: int, panel_h: int, top: int = 0) -> np.ndarray:
    left = column * (panel_w + GAP)
    first = top + TITLE_HEIGHT + LABEL_HEIGHT
    return figure[first : first + panel_h, left : left + panel_w]


def test_preview_places_slices_on_a_near_square_grid(tmp_path: Path) -> None:
    volume = np.zeros((5, 32, 48), np.float32)
    volume[:, 0, 0] = 1.0  # every tile has one white pixel, so the scale is the same everywhere
    volume[3, 8:16, 10:20] = 1.0
    path = save_preview_png(volume, tmp_path / "preview.png")
    assert path == tmp_path / "preview.png"
    image = read_png(path)
    assert image.shape == (2 * 32 + GAP, 3 * 48 + 2 * GAP)  # 5 slices: 3 columns, 2 rows
    bright = np.argwhere(image == 255)
    square = bright[(bright[:, 0] % (32 + GAP) != 0) | (bright[:, 1] % (48 + GAP) != 0)]
    top, left = 32 + GAP, 0  # slice 3 is the first tile of the second row
    assert square.min(axis=0).tolist() == [top + 8, left + 10]
    assert square.max(axis=0).tolist() == [top + 15, left + 19]
    assert len(square) == 8 * 10
    assert image[32 : 32 + GAP].max() == 0  # the gap between grid rows stays black


def test_preview_takes_evenly_spaced_slices_on_one_scale(tmp_path: Path) -> None:
    volume = np.broadcast_to(np.arange(1, 41, dtype=np.float64)[:, None, None], (40, 6, 5))
    image = read_png(save_preview_png(volume, tmp_path / "p.png", max_slices=4))
    assert image.shape == (2 * 6 + GAP, 2 * 5 + GAP)
    tiles = [image[:6, :5], image[:6, 5 + GAP :], image[6 + GAP :, :5], image[6 + GAP :, 5 + GAP :]]
    # slices 0, 13, 26, 39 hold 1, 14, 27, 40; the 99.5th percentile (white) is 40
    expected = np.round(np.array([1, 14, 27, 40]) / 40 * 255)
    assert [int(tile.min()) for tile in tiles] == expected.tolist()
    assert [int(tile.max()) for tile in tiles] == expected.tolist()


def test_preview_clips_rare_bright_pixels(tmp_path: Path) -> None:
    volume = np.full((2, 50, 50), 1.0)
    volume[0, 0, 0] = 1000.0
    image = read_png(save_preview_png(volume, tmp_path / "p.png"))
    assert image[0, 0] == 255
    assert image[10, 10] == 255  # the percentile is 1.0, so the body is white, not crushed black


@pytest.mark.parametrize(
    ("volume", "kwargs", "message"),
    [
        (np.zeros((4, 5)), {}, r"volume: expected a non-empty \(slices, H, W\) array.*\(4, 5\)"),
        (np.zeros((0, 4, 5)), {}, r"volume: .*\(0, 4, 5\)"),
        (np.zeros((2, 4, 5), np.complex64), {}, "volume: expected real magnitudes"),
        (np.full((2, 4, 5), np.nan), {}, "volume: contains NaN"),
        (np.zeros((2, 4, 5)), {"max_slices": 0}, "max_slices: must be a positive integer"),
    ],
)
def test_preview_rejects_bad_input(
    tmp_path: Path, volume: np.ndarray, kwargs: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        save_preview_png(volume, tmp_path / "p.png", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_comparison_layout_scale_and_error_panel(tmp_path: Path) -> None:
    path = save_comparison_png([comparison_row()], tmp_path / "cmp.png")
    figure = read_png(path)
    assert figure.shape == (TITLE_HEIGHT + LABEL_HEIGHT + 256, 4 * 256 + 3 * GAP)
    zero_filled, reconstruction, target, error = (panel(figure, c, 256, 256) for c in range(4))
    # 128 px images are enlarged 2x; all share the target's scale (white = 1.0)
    assert np.all(zero_filled == round(0.4 * 255))
    assert np.all(target[20:40, 60:80] == 255)
    assert np.all(target[:20] == round(0.8 * 255))
    assert np.array_equal(reconstruction[:200], target[:200])
    assert np.all(reconstruction[200:220, 100:120] == round(0.84 * 255))
    # |error| x5: black where reconstruction == target, 0.2 of white in the changed block
    assert np.all(error[200:220, 100:120] == round(0.04 * 5 * 255))
    error[200:220, 100:120] = 0
    assert error.max() == 0


def test_several_reconstructions_share_one_row(tmp_path: Path) -> None:
    row = comparison_row()
    better = row.target.copy()
    better[100:110, 50:60] += 0.01  # a smaller error than row's
    row.reconstruction = [row.reconstruction, better]
    figure = read_png(save_comparison_png([row], tmp_path / "cmp.png"))
    assert figure.shape == (TITLE_HEIGHT + LABEL_HEIGHT + 256, 6 * 256 + 5 * GAP)
    zero_filled, first, second, target, first_error, second_error = (
        panel(figure, c, 256, 256) for c in range(6)
    )
    assert np.all(zero_filled == round(0.4 * 255)) and np.all(target[20:40, 60:80] == 255)
    assert np.all(first[200:220, 100:120] == round(0.84 * 255))
    assert np.all(second[200:220, 100:120] == round(0.81 * 255))
    assert np.all(first_error[200:220, 100:120] == round(0.04 * 5 * 255))
    assert np.all(second_error[200:220, 100:120] == round(0.01 * 5 * 255))
    assert first_error[:200].max() == 0 and second_error[:200].max() == 0
    with pytest.raises(ValueError, match=r"rows\[0\]\.labels: expected 6 strings"):
        row.labels = ["zero-filled", "a", "b", "target", "|error| x5"]
        save_comparison_png([row], tmp_path / "bad.png")
    with pytest.raises(ValueError, match=r"rows\[0\]\.reconstruction: expected at least one"):
        row.labels, row.reconstruction = None, []
        save_comparison_png([row], tmp_path / "bad.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp.png"]


def test_labels_and_titles_are_drawn_in_their_strips(tmp_path: Path) -> None:
    row = comparison_row()
    plain = read_png(save_comparison_png([row], tmp_path / "a.png"))
    row.labels = ["zero-filled  SSIM 0.712", "U-Net  SSIM 0.853", "target", "|error| x5"]
    labelled = read_png(save_comparison_png([row], tmp_path / "b.png"))
    strip = slice(TITLE_HEIGHT, TITLE_HEIGHT + LABEL_HEIGHT)
    assert plain[strip, :256].max() == 255  # "zero-filled" is written
    changed = np.any(plain[strip] != labelled[strip], axis=0)
    assert changed[:256].any() and changed[256 + GAP : 512 + GAP].any()
    assert not changed[2 * (256 + GAP) :].any()  # same "target" and "|error| x5" labels
    assert np.array_equal(
        plain[TITLE_HEIGHT + LABEL_HEIGHT :], labelled[TITLE_HEIGHT + LABEL_HEIGHT :]
    )
    row.title = "another title"
    retitled = read_png(save_comparison_png([row], tmp_path / "c.png"))
    assert labelled[:TITLE_HEIGHT].max() == 255
    assert not np.array_equal(labelled[:TITLE_HEIGHT], retitled[:TITLE_HEIGHT])


def test_rows_of_different_sizes_stack_left_aligned(tmp_path: Path) -> None:
    small, large = comparison_row(128, "small"), comparison_row(300, "large")
    figure = read_png(save_comparison_png([small, large], tmp_path / "cmp.png", error_gain=10))
    row_h = TITLE_HEIGHT + LABEL_HEIGHT
    assert figure.shape == (row_h + 256 + GAP + row_h + 300, 4 * 300 + 3 * GAP)
    assert np.all(figure[: row_h + 256, 4 * 256 + 3 * GAP :] == 0)  # padding right of row 1
    error = panel(figure, 3, 300, 300, top=row_h + 256 + GAP)
    # No enlargement at 300 px. The 20 x 20 block of 1.0 is under 0.5% of the target's pixels, so
    # the 99.5th percentile, the background's 0.8, is white (the figures' one windowing rule).
    assert np.all(error[100:110, 50:60] == round(0.04 * 10 / 0.8 * 255))


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "rows: empty"),
        (["not a row"], r"rows\[0\]: expected a ComparisonRow, got str"),
        (
            [ComparisonRow("t", np.zeros((4, 4)), np.zeros((4, 5)), np.zeros((4, 4)))],
            r"rows\[0\]: reconstruction shape \(4, 5\) != target shape \(4, 4\)",
        ),
        (
            [ComparisonRow("t", np.zeros((3, 4)), np.zeros((4, 4)), np.zeros((4, 4)))],
            r"rows\[0\]: zero_filled shape \(3, 4\) != target shape \(4, 4\)",
        ),
        (
            [ComparisonRow("t", np.zeros(4), np.zeros(4), np.zeros(4))],
            r"rows\[0\].zero_filled: expected a non-empty \(H, W\) array",
        ),
        (
            [ComparisonRow("t", *[np.zeros((4, 4))] * 3, labels=["a", "b"])],
            r"rows\[0\].labels: expected 4 strings",
        ),
    ],
)
def test_comparison_rejects_bad_rows(tmp_path: Path, rows: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        save_comparison_png(rows, tmp_path / "cmp.png")
    assert list(tmp_path.iterdir()) == []


def test_comparison_rejects_bad_error_gain(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="error_gain: must be a positive finite number"):
        save_comparison_png([comparison_row()], tmp_path / "cmp.png", error_gain=0)


@pytest.mark.parametrize("kind", ["preview", "comparison"])
def test_existing_file_is_kept_unless_overwrite(tmp_path: Path, kind: str) -> None:
    def save(path: Path, overwrite: bool, value: float) -> Path:
        if kind == "preview":
            return save_preview_png(np.full((1, 8, 8), value), path, overwrite=overwrite)
        row = ComparisonRow("t", *[np.full((8, 8), value)] * 3)
        return save_comparison_png([row], path, overwrite=overwrite)

    path = tmp_path / "fig.png"
    save(path, False, 1.0)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="already exists"):
        save(path, False, 0.0)
    assert path.read_bytes() == before
    save(path, True, 0.0)
    assert path.read_bytes() != before
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]


def test_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "taken.png"
    target.mkdir()  # the final rename onto a folder fails after the PNG was written
    with pytest.raises(OSError):
        save_preview_png(np.ones((2, 8, 8)), target, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["taken.png"]
    assert list(target.iterdir()) == []


def test_long_text_is_cut_to_its_own_strip(tmp_path: Path) -> None:
    row = comparison_row(64, title="x" * 400)
    row.labels = ["a label far too long to fit in one panel of 256 pixels width", "", "", ""]
    figure = read_png(save_comparison_png([row], tmp_path / "cmp.png"))
    strip = figure[TITLE_HEIGHT : TITLE_HEIGHT + LABEL_HEIGHT]
    assert strip[:, :256].max() == 255
    assert strip[:, 256:].max() == 0  # nothing spills into the gap or the next panel's strip
    assert figure[:TITLE_HEIGHT, -3:].max() == 0  # the title stops inside the row's margin
