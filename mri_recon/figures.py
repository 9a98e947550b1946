"""Every picture mri-recon draws: PNG figures of reconstructions (a slice montage of one volume,
side-by-side comparisons), the images training logs, and the studies' plots, written as PNGs.

One windowing rule for every image of a reconstruction (``white_level``, ``grey``): 0 is black and
the 99.5th percentile of the reference (the target where there is one, else the images shown) is
white, brighter pixels clipped; error maps use the same scale, times a gain their labels state.

The HTML report's slice viewer shows the same panels as the comparison figures
(``comparison_panels``: the images on the target's scale, the error maps times the gain),
downsampled by a whole factor where an image is large (``downsample``) and embedded as PNG data
URIs (``png_data_uri``).

Every writer renders the whole figure in memory and writes it with ``save_png``: atomically (a
reader never sees a half-written PNG, and a failure leaves no file behind) and marked as
mri-recon's (``mri_recon.data.marks``). Images are 8-bit greyscale; the layout constants below fix
where every tile and panel lies. Plots are matplotlib figures (``save_plot``), drawn without pyplot.
"""

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin, features

from mri_recon.data.io import atomic_path
from mri_recon.data.marks import PNG_KEY, writer_mark

GAP = 4  # black pixels between montage tiles, comparison panels and comparison rows
TITLE_HEIGHT = 20  # strip above each comparison row that holds its title
LABEL_HEIGHT = 18  # strip above each comparison panel that holds its label
MIN_PANEL_WIDTH = 256  # comparison panels are enlarged by a whole factor to at least this width
FONT_SIZE = 12  # size of PIL's default font (Aileron) when FreeType is available
WHITE_PERCENTILE = 99.5  # white: this percentile of the reference (the one windowing rule)
PREVIEW, FIGURE = "preview", "figure"  # the kinds of output (marks) of the two writers
PLOT_DPI = 80  # plots are read on screen: 80 dots per inch keeps them small

if TYPE_CHECKING:  # matplotlib loads only where a plot is saved
    from matplotlib.figure import Figure


@dataclass
class ComparisonRow:
    """One row of a comparison figure: a slice, its baseline, one or more networks'
    reconstructions and the target.

    Attributes:
        title: row title, e.g. ``"file_sim0_0030.h5  slice 3  4x"``.
        zero_filled: (H, W) magnitude image of the zero-filled baseline.
        reconstruction: (H, W) magnitude image of a network's reconstruction, or a sequence of
            them (several networks side by side).
        target: (H, W) magnitude image of the fully sampled reference.
        labels: the panel labels: zero-filled, each reconstruction, target, then each
            reconstruction's error (4 for one reconstruction); ``None`` gives the plain names.
            Error labels should state the error gain, e.g. ``"|error| x5"``.
    """

    title: str
    zero_filled: np.ndarray
    reconstruction: np.ndarray | Sequence[np.ndarray]
    target: np.ndarray
    labels: Sequence[str] | None = None

    def reconstructions(self) -> list[np.ndarray]:
        """The reconstructions as a list (one item for a single image)."""
        if isinstance(self.reconstruction, np.ndarray):
            return [self.reconstruction]
        return list(self.reconstruction)


def save_preview_png(
    volume: np.ndarray, path: str | Path, overwrite: bool = False, max_slices: int = 16
) -> Path:
    """Saves a near-square montage of evenly spaced slices of a magnitude volume as a PNG.

    Slices are taken at evenly spaced indices from the first to the last, laid out row by row on
    a grid of ``ceil(sqrt(n))`` columns, ``GAP`` black pixels apart, at their own resolution.
    One grey scale covers the whole montage (``white_level`` of the shown slices).

    Args:
        volume: (slices, H, W) real magnitude volume.
        path: the PNG file to write.
        overwrite: replace an existing PNG of mri-recon's of the same kind (never another's);
            otherwise ``FileExistsError`` is raised.
        max_slices: the most slices to show (at least 1).

    Returns:
        The path written.
    """
    vol = _checked_image("volume", volume, "(slices, H, W)")
    if (
        isinstance(max_slices, bool)
        or not isinstance(max_slices, (int, np.integer))
        or max_slices < 1
    ):
        raise ValueError(f"max_slices: must be a positive integer, got {max_slices!r}")
    count = min(vol.shape[0], max_slices)
    shown = vol[np.round(np.linspace(0, vol.shape[0] - 1, count)).astype(int)]
    white = white_level(shown)
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    height, width = shown.shape[1:]
    canvas = np.zeros((rows * height + (rows - 1) * GAP, cols * width + (cols - 1) * GAP), np.uint8)
    for index, image in enumerate(shown):
        top = (index // cols) * (height + GAP)
        left = (index % cols) * (width + GAP)
        canvas[top : top + height, left : left + width] = grey(image, white)
    return save_png(Image.fromarray(canvas), path, PREVIEW, overwrite)


def save_comparison_png(
    rows: Sequence[ComparisonRow],
    path: str | Path,
    overwrite: bool = False,
    error_gain: float = 5.0,
) -> Path:
    """Saves a figure with one row per slice: zero-filled | reconstruction(s) | target | error(s).

    Each row has its title in a strip on top, then its panels side by side (4 for one
    reconstruction, 2 more per further one), each with its label in a strip above it. The image
    panels share the target's grey scale (``white_level`` of the target); each error panel shows
    ``|reconstruction - target|`` on that scale multiplied by ``error_gain``, so small errors are
    visible (black where they agree). Images narrower than ``MIN_PANEL_WIDTH`` are enlarged by a
    whole factor with nearest-neighbour sampling, so labels stay readable and pixels keep their
    values. Rows of different image sizes are left-aligned.

    Args:
        rows: the rows, top to bottom (at least one).
        path: the PNG file to write.
        overwrite: replace an existing PNG of mri-recon's of the same kind (never another's);
            otherwise ``FileExistsError`` is raised.
        error_gain: factor applied to the error map; the default labels state it ("|error| x5").

    Returns:
        The path written.
    """
    if len(rows) == 0:
        raise ValueError("rows: empty; a comparison figure needs at least one ComparisonRow")
    if not (math.isfinite(error_gain) and error_gain > 0):
        raise ValueError(f"error_gain: must be a positive finite number, got {error_gain!r}")
    checked = [_checked_row(i, row, error_gain) for i, row in enumerate(rows)]
    font = _font()
    rendered = [_render_row(*row, error_gain=error_gain, font=font) for row in checked]
    width = max(image.width for image in rendered)
    height = sum(image.height for image in rendered) + GAP * (len(rendered) - 1)
    figure = Image.new("L", (width, height), 0)
    top = 0
    for image in rendered:
        figure.paste(image, (0, top))
        top += image.height + GAP
    return save_png(figure, path, FIGURE, overwrite)


def _checked_image(name: str, array: np.ndarray, layout: str) -> np.ndarray:
    """Returns ``array`` as float64 after checking it is real, finite, non-empty, of ``layout``."""
    data = np.asarray(array)
    ndim = layout.count(",") + 1
    if data.ndim != ndim or data.size == 0:
        raise ValueError(f"{name}: expected a non-empty {layout} array, got shape {data.shape}")
    if not (np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.floating)):
        raise ValueError(f"{name}: expected real magnitudes, got dtype {data.dtype}")
    data = data.astype(np.float64)
    if not np.isfinite(data).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return data


def _checked_row(
    index: int, row: ComparisonRow, error_gain: float
) -> tuple[str, list[np.ndarray], list[str], int]:
    """Validates one comparison row; returns its title, its images (zero-filled, the
    reconstructions, target, then the error maps), their labels and how many are error maps."""
    name = f"rows[{index}]"
    if not isinstance(row, ComparisonRow):
        raise ValueError(f"{name}: expected a ComparisonRow, got {type(row).__name__}")
    zero_filled = _checked_image(f"{name}.zero_filled", row.zero_filled, "(H, W)")
    given = row.reconstructions()
    if not given:
        raise ValueError(f"{name}.reconstruction: expected at least one image")
    count = len(given)

    def numbered(text: str, i: int, form: str) -> str:  # numbered only when there are several
        return text if count == 1 else text + form.format(i)

    recons = [
        _checked_image(numbered(f"{name}.reconstruction", i, "[{}]"), r, "(H, W)")
        for i, r in enumerate(given)
    ]
    target = _checked_image(f"{name}.target", row.target, "(H, W)")
    for field, image in [("zero_filled", zero_filled)] + [("reconstruction", r) for r in recons]:
        if image.shape != target.shape:
            raise ValueError(f"{name}: {field} shape {image.shape} != target shape {target.shape}")
    if row.labels is None:
        names = [numbered("reconstruction", i + 1, " {}") for i in range(count)]
        error = [f"|{numbered('error', i + 1, ' {}')}| x{error_gain:g}" for i in range(count)]
        labels = ["zero-filled", *names, "target", *error]
    else:
        labels = list(row.labels)
        if len(labels) != 2 + 2 * count or not all(isinstance(label, str) for label in labels):
            raise ValueError(f"{name}.labels: expected {2 + 2 * count} strings, got {row.labels!r}")
    errors = [np.abs(r - target) for r in recons]
    return str(row.title), [zero_filled, *recons, target, *errors], labels, count


def _render_row(
    title: str,
    images: list[np.ndarray],
    labels: list[str],
    errors: int,
    error_gain: float,
    font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
) -> Image.Image:
    """Draws one comparison row: title strip, label strips and the enlarged panels (the last
    ``errors`` of ``images`` are error maps)."""
    height, width = images[0].shape
    scale = max(1, math.ceil(MIN_PANEL_WIDTH / width))
    panel_w, panel_h = width * scale, height * scale
    target = images[-errors - 1]
    greys = comparison_panels(images[: -errors - 1], target, images[-errors:], error_gain)
    panels = len(images)
    row = Image.new(
        "L", (panels * panel_w + (panels - 1) * GAP, TITLE_HEIGHT + LABEL_HEIGHT + panel_h), 0
    )
    draw = ImageDraw.Draw(row)
    _draw_text(draw, title, 0, 0, row.width, TITLE_HEIGHT, font)
    for column, (pixels, label) in enumerate(zip(greys, labels)):
        left = column * (panel_w + GAP)
        _draw_text(draw, label, left, TITLE_HEIGHT, panel_w, LABEL_HEIGHT, font)
        panel = Image.fromarray(pixels)
        panel = panel.resize((panel_w, panel_h), Image.Resampling.NEAREST)
        row.paste(panel, (left, TITLE_HEIGHT + LABEL_HEIGHT))
    return row


def comparison_panels(
    images: Sequence[np.ndarray],
    target: np.ndarray,
    errors: Sequence[np.ndarray],
    error_gain: float = 5.0,
    white: float | None = None,
) -> list[np.ndarray]:
    """The 8-bit panels of one comparison: ``images``, then ``target``, then each error map
    times ``error_gain``, all on the target's grey scale (the one windowing rule).

    Args:
        images: magnitude images shown beside the target (zero-filled, reconstructions).
        target: the reference, whose ``white_level`` is white.
        errors: error maps, e.g. ``|reconstruction - target|``, on the same scale.
        error_gain: factor applied to the error maps.
        white: the white level to use (default: ``white_level(target)``), for panels
            downsampled after the level was taken at full resolution.
    """
    white = white_level(target) if white is None else white
    shown = [grey(image, white) for image in [*images, target]]
    return shown + [grey(error * error_gain, white) for error in errors]


def downsample(image: np.ndarray, factor: int) -> np.ndarray:
    """``image`` (H, W) averaged over ``factor`` x ``factor`` blocks (edges that do not fill
    a block are dropped); the image itself for ``factor`` 1."""
    if factor <= 1:
        return np.asarray(image)
    height, width = (n // factor * factor for n in image.shape)
    blocks = np.asarray(image[:height, :width], np.float64)
    return blocks.reshape(height // factor, factor, width // factor, factor).mean(axis=(1, 3))


def png_data_uri(pixels: np.ndarray) -> str:
    """An 8-bit greyscale image as a ``data:image/png;base64,...`` URI (for the HTML report)."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, np.uint8)).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def white_level(reference: np.ndarray) -> float:
    """The grey scale's white for images shown against ``reference``: its 99.5th percentile
    (``WHITE_PERCENTILE``), or its maximum when that percentile is 0."""
    white = float(np.percentile(reference, WHITE_PERCENTILE))
    return white if white > 0 else float(np.max(reference))


def grey(image: np.ndarray, white: float) -> np.ndarray:
    """Maps 0 .. ``white`` to 8-bit grey levels, clipping outside; all black when ``white <= 0``."""
    if white <= 0:
        return np.zeros(image.shape, np.uint8)
    return np.round(np.clip(image / white, 0.0, 1.0) * 255).astype(np.uint8)


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """PIL's default font: Aileron at ``FONT_SIZE`` with FreeType, else the built-in bitmap font."""
    if features.check("freetype2"):
        return ImageFont.load_default(size=FONT_SIZE)
    return ImageFont.load_default()


def _draw_text(
    draw: ImageDraw.ImageDraw,
    text: str,
    left: int,
    top: int,
    width: int,
    height: int,
    font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
) -> None:
    """Writes ``text`` in white, vertically centred in a strip, shortened with "..." to fit."""
    margin = 3
    if draw.textlength(text, font=font) > width - 2 * margin:
        while text and draw.textlength(text + "...", font=font) > width - 2 * margin:
            text = text[:-1]
        text += "..."
    _, glyph_top, _, glyph_bottom = font.getbbox("Ag")
    y = top + (height - (glyph_bottom - glyph_top)) // 2 - glyph_top
    draw.text((left + margin, y), text, fill=255, font=font)


def save_png(image: Image.Image, path: str | Path, kind: str, overwrite: bool = False) -> Path:
    """Writes ``image`` as a PNG at ``path`` atomically, marked as a ``kind`` output of
    mri-recon's (``atomic_path`` says which existing files it replaces); returns ``path``."""
    path = Path(path)
    info = PngImagePlugin.PngInfo()
    info.add_text(PNG_KEY, writer_mark(kind))
    with atomic_path(path, kind, overwrite=overwrite) as tmp:
        image.save(tmp, format="PNG", pnginfo=info, optimize=image.mode == "P")
    return path


def save_plot(figure: "Figure", path: str | Path, kind: str, overwrite: bool = False) -> Path:
    """Writes a matplotlib figure as a PNG of 256 colours (a plot needs no more, and the file is
    about a third of the full-colour one) with ``save_png``.

    Args:
        figure: the figure, drawn on ``matplotlib.figure.Figure`` (no pyplot).
        path: the PNG file to write.
        kind: the kind of output it is (its mark).
        overwrite: replace an existing PNG of mri-recon's of the same kind (never another's).

    Returns:
        ``path``.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=PLOT_DPI, bbox_inches="tight")
    image = Image.open(buffer).convert("RGB").quantize(colors=256)
    return save_png(image, path, kind, overwrite)
