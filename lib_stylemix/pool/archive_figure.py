"""Picture of a quality–diversity archive: the grid of cells coloured by their elite's score, the members
where the descriptor map puts them, and which elites joined the pool."""

from __future__ import annotations

from typing import Any

import numpy as np

from lib_stylemix.pool.archive import Archive


def archive_figure(archive: Archive, *, score_name: str = "score") -> Any:
    """A matplotlib Figure (Agg canvas, no pyplot) of `archive`."""
    from lib_stylemix.pool.figures import _figure, tight_layout

    bins = archive.bins
    grid = np.full((bins, bins), np.nan)
    for (i, j), elite in archive.cells.items():
        grid[j, i] = elite.score
    fig = _figure(7.5, 6.5)
    ax = fig.add_subplot(1, 1, 1)
    extent = (float(archive.lo[0]), float(archive.hi[0]), float(archive.lo[1]), float(archive.hi[1]))
    image = ax.imshow(grid, origin="lower", extent=extent, aspect="auto", cmap="viridis", alpha=0.85)
    for k in range(bins + 1):
        x = archive.lo[0] + (archive.hi[0] - archive.lo[0]) * k / bins
        y = archive.lo[1] + (archive.hi[1] - archive.lo[1]) * k / bins
        ax.axvline(x, color="0.8", linewidth=0.5)
        ax.axhline(y, color="0.8", linewidth=0.5)
    for elite in archive.cells.values():
        kept = elite.name is not None
        ax.plot(*elite.descriptor, marker="*" if kept else "o", markersize=11 if kept else 5,
                color="crimson" if kept else "white", markeredgecolor="black", linestyle="none")
        if kept:
            ax.annotate(elite.operator, elite.descriptor, fontsize=7, xytext=(4, -9), textcoords="offset points")
    for name, (x, y) in zip(archive.member_names, archive.member_descriptors, strict=True):
        ax.plot(x, y, marker="s", color="black", markersize=6, linestyle="none")
        ax.annotate(name, (x, y), fontsize=7, xytext=(4, 4), textcoords="offset points")
    axis_names = ("pool map axis 1", "pool map axis 2") if archive.mode == "map" else \
        tuple(f"share of {archive.member_names[int(np.argmax(archive.axes[:, k]))]}" for k in range(2))
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    filled = len(archive.cells)
    ax.set_title(f"QD archive: {filled} of {bins * bins} cells filled (■ members, ★ kept, ● elite not kept)")
    fig.colorbar(image, ax=ax, label=f"elite {score_name}", fraction=0.046, pad=0.04)
    tight_layout(fig)
    return fig
