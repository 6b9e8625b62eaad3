"""Images × styles overview pages: one row per source image, one column per style, split into pages when large."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PIL import Image

from lib_stylemix.dataset.drawing import labelled_grid


@dataclass(frozen=True)
class GridPage:
    number: int
    rows: tuple[int, int]  # [start, stop) into the image list
    cols: tuple[int, int]  # [start, stop) into the style list


def paginate(n_rows: int, n_cols: int, max_rows: int = 8, max_cols: int = 6) -> list[GridPage]:
    """Cut an n_rows × n_cols grid into pages of at most max_rows × max_cols, row blocks outermost."""
    pages: list[GridPage] = []
    for r in range(0, n_rows, max_rows):
        for c in range(0, n_cols, max_cols):
            pages.append(GridPage(len(pages) + 1, (r, min(r + max_rows, n_rows)), (c, min(c + max_cols, n_cols))))
    return pages


def grid_page(
    page: GridPage,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    cell_image: Callable[[int, int], Image.Image | None],
    *,
    cell: int = 256,
    title: str | None = None,
    include_source: Callable[[int], Image.Image | None] | None = None,
) -> Image.Image:
    """Render one page; `cell_image(row, col)` gives the output (None draws a grey placeholder).

    With `include_source`, the first column shows the source image, so each row reads "before → styles".
    """
    rows = range(*page.rows)
    cols = range(*page.cols)
    cells = []
    for r in rows:
        row = [include_source(r)] if include_source else []
        row.extend(cell_image(r, c) for c in cols)
        cells.append(row)
    columns = (["source"] if include_source else []) + [col_labels[c] for c in cols]
    return labelled_grid(
        cells,
        row_labels=[row_labels[r] for r in rows],
        col_labels=columns,
        cell=(cell, cell),
        title=title,
        font_size=max(14, cell // 12),
    )
