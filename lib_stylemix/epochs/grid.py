"""Grid images with row and column labels (Pillow 9.5 only: `textbbox`, no Pillow-10 APIs).

A cell holds every image rendered for one (epoch, strength) pair as a small sheet; the grid puts the
cells in rows (epochs) and columns (strengths) with the labels on the top and left, so one picture shows
where a style appears and where it starts to overcook.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont, ImageOps

BACKGROUND = (255, 255, 255)
MISSING = (200, 200, 200)
FAILED = (150, 30, 30)
TEXT = (0, 0, 0)
GAP = 4


def load_font(size: int) -> ImageFont.ImageFont:
    """The one label font of every grid and sheet (`dataset.drawing.label_font`: DejaVu Sans, else Pillow's)."""
    from lib_stylemix.dataset.drawing import label_font

    return label_font(size)


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


def failure_tile(size: tuple[int, int]) -> Image.Image:
    """What a failed image looks like in its cell: dark red with "failed" written across it."""
    tile = Image.new("RGB", size, FAILED)
    draw = ImageDraw.Draw(tile)
    font = load_font(max(10, min(size) // 6))
    text_w, text_h = _text_size(draw, "failed", font)
    draw.text(((size[0] - text_w) // 2, (size[1] - text_h) // 2), "failed", fill=(255, 255, 255), font=font)
    return tile


def _fitting_font(draw: ImageDraw.ImageDraw, labels: Sequence[str], width: int, size: int) -> ImageFont.ImageFont:
    """The largest font up to `size` in which every column label fits its column (tall cells made the labels of
    neighbouring columns run into each other)."""
    font = load_font(size)
    while size > 10 and max((_text_size(draw, t, font)[0] for t in labels), default=0) > width - 2 * GAP:
        size -= 2
        font = load_font(size)
    return font


def _text_size(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return right - left, bottom - top


def labelled_grid(
    cells: Sequence[Sequence[Image.Image | None]],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    font_size: int | None = None,
) -> Image.Image:
    """Put `cells[row][col]` (all the same size; None = not rendered, shown grey) under/after the labels."""
    if len(cells) != len(row_labels) or any(len(row) != len(col_labels) for row in cells):
        raise ValueError("grid: the number of labels does not match the cells")
    sample = next((c for row in cells for c in row if c is not None), None)
    cell_w, cell_h = sample.size if sample is not None else (256, 256)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    if font_size:
        font = load_font(font_size)
    else:
        font = _fitting_font(probe, col_labels, cell_w, max(12, min(cell_w, cell_h) // 10))
    label_w = max((_text_size(probe, t, font)[0] for t in row_labels), default=0) + 2 * GAP
    label_h = max((_text_size(probe, t, font)[1] for t in col_labels), default=0) + 2 * GAP
    width = label_w + len(col_labels) * (cell_w + GAP)
    height = label_h + len(row_labels) * (cell_h + GAP)
    grid = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(grid)
    for col, text in enumerate(col_labels):
        text_w, _ = _text_size(draw, text, font)
        draw.text((label_w + col * (cell_w + GAP) + (cell_w - text_w) // 2, GAP), text, fill=TEXT, font=font)
    for row, text in enumerate(row_labels):
        _, text_h = _text_size(draw, text, font)
        y = label_h + row * (cell_h + GAP)
        draw.text((GAP, y + (cell_h - text_h) // 2), text, fill=TEXT, font=font)
        for col, cell in enumerate(cells[row]):
            x = label_w + col * (cell_w + GAP)
            grid.paste(cell if cell is not None else Image.new("RGB", (cell_w, cell_h), MISSING), (x, y))
    return grid
