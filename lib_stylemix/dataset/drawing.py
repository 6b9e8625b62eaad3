"""Labelled image grids (contact sheets, restyle overviews) readable at a glance, with Pillow 9.5 APIs only."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

Colour = tuple[int, int, int]
TEXT = (20, 20, 20)
WARN = (190, 30, 30)
PAD = 6


@functools.lru_cache(maxsize=8)
def label_font(size: int = 18) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """DejaVu Sans at `size` (system font, else matplotlib's bundled copy), else Pillow's small default font."""
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        pass
    try:
        import matplotlib

        return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), size)
    except (ImportError, OSError):
        return ImageFont.load_default()


def text_size(text: str, font) -> tuple[int, int]:
    left, top, right, bottom = ImageDraw.Draw(Image.new("RGB", (1, 1))).multiline_textbbox((0, 0), text, font=font)
    return right - left, bottom - top


def fit_text(text: str, font, width: int) -> str:
    """Wrap `text` into lines no wider than `width` pixels (words longer than a line are cut with '…')."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}".strip()
            if text_size(candidate, font)[0] <= width or not line:
                line = candidate
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return "\n".join(_ellipsize(line, font, width) for line in lines)


def _ellipsize(line: str, font, width: int) -> str:
    if text_size(line, font)[0] <= width:
        return line
    while line and text_size(line + "…", font)[0] > width:
        line = line[:-1]
    return line + "…"


@dataclass
class Caption:
    text: str
    colour: Colour = TEXT


def labelled_grid(
    cells: Sequence[Sequence[Image.Image | None]],
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    captions: Sequence[Sequence[Caption | None]] | None = None,
    cell: tuple[int, int] = (256, 256),
    title: str | None = None,
    font_size: int = 18,
    background: Colour = (255, 255, 255),
) -> Image.Image:
    """Paste `cells[row][col]` (fitted into `cell`, aspect kept) under column labels, beside row labels.

    Missing cells (None) are drawn as a grey placeholder so a partial run still lines up; a short row ends blank.
    """
    font = label_font(font_size)
    n_rows = len(cells)
    n_cols = max((len(r) for r in cells), default=0)
    cell_w, cell_h = cell
    line_h = text_size("Ag", font)[1] + 4
    row_w = 0
    wrapped_rows: list[str] = []
    if row_labels:
        max_row_w = max(cell_w, 160)
        wrapped_rows = [fit_text(label, font, max_row_w) for label in row_labels]
        row_w = max(text_size(t, font)[0] for t in wrapped_rows) + 2 * PAD
    wrapped_cols = [fit_text(label, font, cell_w - 2 * PAD) for label in col_labels] if col_labels else []
    col_h = max((text_size(t, font)[1] for t in wrapped_cols), default=0) + 2 * PAD if col_labels else 0
    caption_lines = 0
    wrapped_captions: list[list[str | None]] = []
    if captions:
        for caption_row in captions:
            wrapped = [fit_text(c.text, font, cell_w - 2 * PAD) if c else None for c in caption_row]
            wrapped_captions.append(wrapped)
            caption_lines = max([caption_lines, *(t.count("\n") + 1 for t in wrapped if t)])
    caption_h = caption_lines * line_h + PAD if caption_lines else 0
    title_text = fit_text(title, font, max(200, row_w + n_cols * cell_w) - 2 * PAD) if title else ""
    title_h = text_size(title_text, font)[1] + 2 * PAD if title else 0
    width = row_w + n_cols * (cell_w + PAD) + PAD
    height = title_h + col_h + n_rows * (cell_h + caption_h + PAD) + PAD
    sheet = Image.new("RGB", (max(width, 1), max(height, 1)), background)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.multiline_text((PAD, PAD), title_text, fill=TEXT, font=font)
    for c, text in enumerate(wrapped_cols):
        x = row_w + PAD + c * (cell_w + PAD)
        tw, _ = text_size(text, font)
        draw.multiline_text((x + (cell_w - tw) / 2, title_h + PAD), text, fill=TEXT, font=font, align="center")
    for r, row in enumerate(cells):
        y = title_h + col_h + PAD + r * (cell_h + caption_h + PAD)
        if wrapped_rows:
            _, th = text_size(wrapped_rows[r], font)
            draw.multiline_text((PAD, y + (cell_h - th) / 2), wrapped_rows[r], fill=TEXT, font=font)
        for c in range(n_cols):
            x = row_w + PAD + c * (cell_w + PAD)
            if c >= len(row):
                continue  # a short last row (contact sheets) stays blank
            image = row[c]
            if image is None:
                draw.rectangle((x, y, x + cell_w - 1, y + cell_h - 1), fill=(215, 215, 215))
            else:
                thumb = image.convert("RGB")
                thumb.thumbnail((cell_w, cell_h), Image.Resampling.LANCZOS)
                sheet.paste(thumb, (x + (cell_w - thumb.width) // 2, y + (cell_h - thumb.height) // 2))
            caption = captions[r][c] if captions and c < len(captions[r]) else None
            if caption is not None:
                text = wrapped_captions[r][c] or ""
                draw.multiline_text((x + PAD, y + cell_h + 2), text, fill=caption.colour, font=font)
    return sheet
