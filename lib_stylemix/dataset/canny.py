"""Canny edge maps as ControlNet's canny preprocessor sees them, with a density check before any GPU time is spent.

ControlNet follows the edge map: with too few edges the style takes over and the composition drifts; with a
map full of texture noise the model copies the noise. The edge density (share of edge pixels) flags both.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TypeAlias

import numpy as np
from PIL import Image

from lib_stylemix.dataset.drawing import WARN, Caption, labelled_grid
from lib_stylemix.errors import StyleMixError

AUTO_SIGMA = 0.33  # auto thresholds: (1 ± sigma) × median grey level
SPARSE_BELOW = 0.015  # < 1.5 % edge pixels: too little structure for ControlNet to keep the composition
MESSY_ABOVE = 0.18  # > 18 % edge pixels: texture noise that ControlNet will copy instead of the shapes

ImageLike: TypeAlias = Image.Image | np.ndarray | str | Path


def check_thresholds(low: int, high: int) -> tuple[int, int]:
    """The one rule for canny thresholds (Dataset and Restyle panels, the Script, the CLI): 1 ≤ low ≤ high ≤ 255.

    Equal thresholds are allowed: cv2.Canny then keeps exactly the edges whose gradient passes that one value,
    and ControlNet's canny preprocessor accepts them too.
    """
    low, high = int(low), int(high)
    if not (1 <= low <= 255 and 1 <= high <= 255):
        raise StyleMixError(f"canny thresholds {low}/{high}: each must be within 1..255")
    if low > high:
        raise StyleMixError(f"canny thresholds {low}/{high}: low must not exceed high (low {low} is above high "
                            f"threshold {high}; use low < high, or low = high for a single threshold)")
    return low, high


def _grey(image: ImageLike, resolution: int | None) -> np.ndarray:
    if isinstance(image, (str, Path)):
        from lib_stylemix.dataset.images import open_rgb

        image = open_rgb(image)
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    if resolution:
        scale = resolution / min(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC)
    return np.asarray(image.convert("L"))


def canny_map(image: ImageLike, low: int = 100, high: int = 200, *, resolution: int | None = None) -> np.ndarray:
    """`cv2.Canny(grey, low, high)`: uint8 H×W, 255 on edges. `resolution` resizes the short side first, as
    ControlNet does with its processor resolution."""
    import cv2

    return cv2.Canny(_grey(image, resolution), int(low), int(high))


def auto_thresholds(image: ImageLike, *, sigma: float = AUTO_SIGMA, resolution: int | None = None) -> tuple[int, int]:
    """Median-based thresholds: `low = (1 - sigma)·m`, `high = (1 + sigma)·m` for the median grey level `m`,
    clamped to 1..255 with low < high."""
    median = float(np.median(_grey(image, resolution)))
    low = int(min(254, max(1, (1.0 - sigma) * median)))
    high = int(min(255, max(low + 1, (1.0 + sigma) * median)))
    return low, high


def edge_density(edge_map: np.ndarray) -> float:
    """Share of pixels that are edges, in [0, 1]."""
    return float(np.count_nonzero(edge_map)) / max(1, edge_map.size)


def density_warning(density: float) -> str | None:
    """A one-line warning when ControlNet will struggle to follow a map of this density, else None."""
    if density < SPARSE_BELOW:
        return f"too sparse ({density:.1%} edges < {SPARSE_BELOW:.1%}): lower the thresholds"
    if density > MESSY_ABOVE:
        return f"too messy ({density:.1%} edges > {MESSY_ABOVE:.0%}): raise the thresholds"
    return None


def map_image(edge_map: np.ndarray) -> Image.Image:
    """The edge map as an RGB image (white edges on black, like the webui's preview)."""
    return Image.fromarray(edge_map).convert("RGB")


def contact_sheet(
    maps: Sequence[np.ndarray],
    names: Sequence[str],
    *,
    thresholds: Sequence[tuple[int, int]] | None = None,
    columns: int = 4,
    cell: int = 256,
    title: str | None = None,
) -> Image.Image:
    """Edge maps in a grid, each captioned with its name, thresholds and density (warnings in red)."""
    columns = max(1, min(columns, len(maps)))
    cells: list[list[Image.Image | None]] = []
    captions: list[list[Caption | None]] = []
    for i, (edge_map, name) in enumerate(zip(maps, names, strict=True)):
        if i % columns == 0:
            cells.append([])
            captions.append([])
        density = edge_density(edge_map)
        warning = density_warning(density)
        low_high = f" {thresholds[i][0]}/{thresholds[i][1]}" if thresholds else ""
        text = f"{name}\n{density:.1%}{low_high}" + (f"\n{warning.split(' (')[0]}" if warning else "")
        cells[-1].append(map_image(edge_map))
        captions[-1].append(Caption(text, WARN) if warning else Caption(text))
    return labelled_grid(cells, captions=captions, cell=(cell, cell), title=title, font_size=max(12, cell // 16))
