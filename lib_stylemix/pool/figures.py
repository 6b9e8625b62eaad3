"""Pool figures: distance heatmap (hierarchically ordered), 2-D pool map (classical MDS from K), lineage tree.

Figures are built on matplotlib's object API with the Agg canvas (never pyplot), so nothing changes the host
application's global backend; `save_png` writes atomically. The `*_figure` functions return a matplotlib
`Figure` that a UI can show directly (e.g. a gradio Plot).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lib_stylemix.fsutil import write_with

# ----- pure geometry ------------------------------------------------------------------------------------------


def average_linkage_order(d: np.ndarray) -> list[int]:
    """Leaf order of an average-linkage (UPGMA) clustering of distance matrix `d`.

    Similar items end up next to each other, which makes blocks visible in a heatmap. O(n³), fine for pools.
    """
    n = len(d)
    clusters: dict[int, list[int]] = {i: [i] for i in range(n)}
    dist = {(i, j): float(d[i, j]) for i in range(n) for j in range(i + 1, n)}
    next_id = n
    while len(clusters) > 1:
        (a, b), _ = min(dist.items(), key=lambda kv: (kv[1], kv[0]))
        left, right = clusters.pop(a), clusters.pop(b)
        for c in clusters:
            da = dist[(min(a, c), max(a, c))]
            db = dist[(min(b, c), max(b, c))]
            dist[(c, next_id)] = (da * len(left) + db * len(right)) / (len(left) + len(right))
        dist = {k: v for k, v in dist.items() if a not in k and b not in k}
        clusters[next_id] = left + right
        next_id += 1
    return next(iter(clusters.values())) if clusters else []


def classical_mds(gram: np.ndarray, dims: int = 2) -> np.ndarray:
    """Coordinates whose Euclidean distances best match ‖ΔWᵢ − ΔWⱼ‖ (double-centred squared distances)."""
    from lib_stylemix.lora.metrics import sq_distances_from_gram

    n = len(gram)
    sq = sq_distances_from_gram(np.asarray(gram, dtype=np.float64))
    centre = np.eye(n) - np.full((n, n), 1.0 / n)
    b = -0.5 * centre @ sq @ centre
    values, vectors = np.linalg.eigh((b + b.T) / 2)
    top = np.argsort(values)[::-1][:dims]
    coords = vectors[:, top] * np.sqrt(np.maximum(values[top], 0.0))
    if coords.shape[1] < dims:
        coords = np.pad(coords, ((0, 0), (0, dims - coords.shape[1])))
    # Fix the sign of each axis so the picture does not flip between runs.
    for k in range(dims):
        if coords[:, k].size and coords[np.argmax(np.abs(coords[:, k])), k] < 0:
            coords[:, k] = -coords[:, k]
    return coords


# ----- drawing ------------------------------------------------------------------------------------------------


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def tight_layout(fig: Any) -> None:
    """`fig.tight_layout()` without leaving a layout engine on the figure. `Figure.tight_layout` leaves a
    placeholder engine, and with any engine set every `savefig` first draws the whole figure once more (text
    laid out, nothing painted) before the real draw; the pixels are the same either way."""
    try:
        from matplotlib.layout_engine import TightLayoutEngine
    except ImportError:  # matplotlib < 3.6 has no layout engines (and no extra draw)
        fig.tight_layout()
        return
    TightLayoutEngine().execute(fig)


def heatmap_figure(names: Sequence[str], matrix: np.ndarray, *, title: str = "ΔW distance",
                   label: str = "‖ΔWᵢ − ΔWⱼ‖_F", order: bool = True) -> Any:
    """Heatmap of a symmetric distance matrix, rows/columns in average-linkage order (when `order`)."""
    idx = average_linkage_order(matrix) if order else list(range(len(names)))
    m = matrix[np.ix_(idx, idx)]
    labels = [names[i] for i in idx]
    size = min(3.0 + 0.35 * len(names), 16.0)
    fig = _figure(size + 1.5, size)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(m, cmap="viridis")
    ax.set_xticks(range(len(labels)))
    ax.set_yticks(range(len(labels)))
    font = max(4, 9 - len(labels) // 10)
    ax.set_xticklabels(labels, rotation=90, fontsize=font)
    ax.set_yticklabels(labels, fontsize=font)
    if len(labels) <= 12:
        top = float(m.max()) if m.size else 0.0
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(j, i, f"{m[i, j]:.3g}", ha="center", va="center", fontsize=font - 1,
                        color="white" if m[i, j] < 0.6 * top else "black")
    fig.colorbar(image, ax=ax, label=label, fraction=0.046, pad=0.04)
    ax.set_title(title)
    tight_layout(fig)
    return fig


def _label_side(x: float, centre: float) -> tuple[str, tuple[int, int]]:
    """Labels point towards the middle of the map, so no label runs off the right or left edge."""
    return ("right", (-5, 4)) if x > centre else ("left", (5, 4))


def pool_map_figure(names: Sequence[str], gram: np.ndarray, edges: Sequence[tuple[int, int]],
                    generations: Sequence[int], *, title: str = "Pool map (classical MDS of ΔW)") -> Any:
    """2-D map of the pool: points placed by classical MDS from K, parent → child links, colour = generation.

    Sized to be read at about 700 px wide (half a panel): labels sit on the inner side of their point, and the
    generation colour bar lies under the plot, where no label can run beneath it.
    """
    xy = classical_mds(gram)
    fig = _figure(7, 6.5)
    ax = fig.add_subplot(1, 1, 1)
    for parent, child in edges:
        ax.annotate("", xy=xy[child], xytext=xy[parent],
                    arrowprops={"arrowstyle": "->", "color": "0.6", "lw": 0.8})
    scatter = ax.scatter(xy[:, 0], xy[:, 1], c=list(generations), cmap="plasma", s=60, zorder=3,
                         edgecolors="black", linewidths=0.5)
    centre = float(np.mean(xy[:, 0])) if len(xy) else 0.0
    for (x, y), name in zip(xy, names, strict=True):
        side, offset = _label_side(float(x), centre)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=offset, fontsize=8, ha=side,
                    annotation_clip=True)
    if len(set(generations)) > 1:
        fig.colorbar(scatter, ax=ax, label="generation", ticks=sorted(set(generations)),
                     orientation="horizontal", fraction=0.05, pad=0.1)
    ax.set_xlabel("MDS axis 1")
    ax.set_ylabel("MDS axis 2")
    ax.set_title(title, fontsize=11)
    ax.margins(x=0.15, y=0.1)
    ax.set_aspect("equal", adjustable="datalim")
    tight_layout(fig)
    return fig


def _wrap_name(name: str, width: int = 20) -> str:
    """Long member names on two lines, broken at `_` or `-` near the middle (or hard at `width`)."""
    if len(name) <= width:
        return name
    cuts = [i for i, c in enumerate(name) if c in "_-"]
    cut = min(cuts, key=lambda i: abs(i - len(name) / 2)) + 1 if cuts else width
    return name[:cut] + "\n" + name[cut:]


def lineage_figure(names: Sequence[str], parents: Sequence[Sequence[str]], generations: Sequence[int],
                   active: Sequence[bool], *, title: str = "Lineage") -> Any:
    """Lineage tree: one row per generation, arrows from parents to children; evicted members drawn hollow.

    About 1.5 inches per member of the widest generation (labels at 8 pt, long names on two lines, neighbours'
    labels alternately above and below), so the tree stays readable when shown at panel width.
    """
    rows: dict[int, list[int]] = {}
    for i, g in enumerate(generations):
        rows.setdefault(g, []).append(i)
    pos: dict[str, tuple[float, float]] = {}
    widest = max((len(v) for v in rows.values()), default=1)
    for g, items in rows.items():
        for k, i in enumerate(items):
            pos[names[i]] = ((k + 0.5) * widest / len(items), -g)
    fig = _figure(min(max(6.0, 1.5 * widest + 1.0), 16.0), max(3.2, 1.9 * len(rows) + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    for i, name in enumerate(names):
        for p in parents[i]:
            if p in pos:
                ax.annotate("", xy=pos[name], xytext=pos[p],
                            arrowprops={"arrowstyle": "->", "color": "0.55", "lw": 0.8,
                                        "connectionstyle": "arc3,rad=0.08"})
    first = min(rows, default=0)
    for g, items in rows.items():
        for k, i in enumerate(items):
            x, y = pos[names[i]]
            ax.scatter([x], [y], s=80, zorder=3, edgecolors="black",
                       facecolors="tab:orange" if active[i] else "white")
            # children's labels go under them (arrows arrive from above); in a crowded row every other flips
            below = (g != first) != (len(items) > 4 and k % 2 == 1)
            ax.annotate(_wrap_name(names[i]), (x, y), textcoords="offset points", xytext=(0, -9 if below else 8),
                        ha="center", va="top" if below else "bottom", fontsize=8)
    ax.set_yticks([-g for g in sorted(rows)])
    ax.set_yticklabels([f"gen {g}" for g in sorted(rows)])
    ax.set_xticks([])
    ax.set_xlim(-0.2, widest + 0.2)
    ax.set_ylim(-max(rows, default=0) - 0.5, -first + 0.5)
    ax.set_title(title + " (hollow = no longer in the pool)", fontsize=11)
    tight_layout(fig)
    return fig


def save_png(fig: Any, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write a figure as PNG atomically. zlib level 1: flat-coloured plots compress almost as well as at the
    default level 6 (a few % larger) in a fraction of the encoding time."""
    return write_with(path, lambda tmp: fig.savefig(tmp, format="png", pil_kwargs={"compress_level": 1}),
                      overwrite=overwrite)
