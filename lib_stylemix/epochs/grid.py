"""Grid images with row and column labels (Pillow 9.5 only: `textbbox`, no Pillow-10 APIs).

A cell holds every image rendered for one (epoch, strength) pair as a small sheet; the grid puts the
cells in rows (epochs) and columns (strengths) with the labels on the top and left, so one picture shows
where a style appears and where it starts to overcook.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageOps

BACKGROUND = (255, 255, 255)
MISSING = (200, 200, 200)


def cell_sheet(images: Sequence[Image.Image], tile: tuple[int, int], columns: int, rows: int) -> Image.Image:
    """The images of one cell on a `columns`×`rows` sheet of `tile`-sized slots, each scaled to fit its slot.

    An empty list gives a grey sheet of the same size, so a cancelled run still lines up.
    """
    tile_w, tile_h = tile
    size = (tile_w * columns, tile_h * rows)
    if not images:
        return Image.new("RGB", size, MISSING)
    sheet = Image.new("RGB", size, BACKGROUND)
    for index, image in enumerate(images[: columns * rows]):
        fitted = ImageOps.contain(image.convert("RGB"), tile)
        x = (index % columns) * tile_w + (tile_w - fitted.width) // 2
        y = (index // columns) * tile_h + (tile_h - fitted.height) // 2
        sheet.paste(fitted, (x, y))
    return sheet


def labelled_grid(
    cells: Sequence[Sequence[Image.Image | None]],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    font_size: int | None = None,
) -> Image.Image:
    """Put `cells[row][col]` (all the same size; None = not rendered, shown grey) under/after the labels.

    The drawing itself is the one labelled-grid helper of `dataset.drawing` (fonts, wrapping, placeholders).
    """
    from lib_stylemix.dataset.drawing import labelled_grid as draw_grid

    if len(cells) != len(row_labels) or any(len(row) != len(col_labels) for row in cells):
        raise ValueError("grid: the number of labels does not match the cells")
    sample = next((c for row in cells for c in row if c is not None), None)
    cell_w, cell_h = sample.size if sample is not None else (256, 256)
    return draw_grid(cells, row_labels=list(row_labels), col_labels=list(col_labels), cell=(cell_w, cell_h),
                     font_size=font_size or max(12, cell_h // 12))
