"""The metric registry: each ΔW distance is one small module in this package (frobenius.py, cosine.py).

A metric turns the Gram matrix G_ij = ⟨ΔW_i, ΔW_j⟩ (from the kernel, never a dense ΔW) into a symmetric
distance matrix with a zero diagonal. `lora compare --metric`, the Pool panel's metric buttons, pool
geometry and the docs read this registry; to add a metric, add one file here that calls
`METRICS.register(Metric(...))` (a plugin folder can be added with `METRICS.add_path(folder)`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lib_stylemix.registry import Param, Registry

if TYPE_CHECKING:
    import numpy as np  # imported where used: `--help` lists the metrics without numpy


@dataclass(frozen=True)
class Metric:
    """One distance: `from_gram(G)` → n×n distances. `title`/`axis` label figures and tables."""

    name: str
    label: str
    help: str
    from_gram: Callable[[np.ndarray], np.ndarray]
    title: str = "ΔW distance"
    axis: str = ""
    params: tuple[Param, ...] = ()
    order: int = 100


METRICS: Registry[Metric] = Registry("metric", __name__)


def names() -> tuple[str, ...]:
    return METRICS.names()


def get(name: str) -> Metric:
    return METRICS.get(name)


def describe() -> str:
    return METRICS.describe(lambda m: f"{m.name}: {m.help}")


def distance_from_gram(gram: np.ndarray, metric: str = "frobenius") -> np.ndarray:
    """Distances under `metric` from a symmetric Gram matrix: the one place ΔW distances come from K.

    Rounding can make ‖·‖² slightly negative for near-identical files; metrics clamp it at 0.
    """
    import numpy as np

    out = np.array(METRICS.get(metric).from_gram(np.asarray(gram, dtype=np.float64)), dtype=np.float64)
    np.fill_diagonal(out, 0.0)
    return out


def sq_distances_from_gram(gram: np.ndarray) -> np.ndarray:
    """‖ΔW_i − ΔW_j‖² = G_ii + G_jj − 2 G_ij, clamped at 0 (shared by the Frobenius metric and per-block views)."""
    import numpy as np

    diag = np.diag(gram)
    return np.clip(diag[:, None] + diag[None, :] - 2.0 * gram, 0.0, None)


def cosine_from_gram(gram: np.ndarray) -> np.ndarray:
    """cos(ΔW_i, ΔW_j); a ΔW = 0 has similarity 0 to everything but itself."""
    import numpy as np

    norms = np.sqrt(np.clip(np.diag(gram), 0.0, None))
    denom = np.outer(norms, norms)
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = np.where(denom > 0, gram / np.where(denom > 0, denom, 1.0), 0.0)
    cos = np.clip(cos, -1.0, 1.0)
    np.fill_diagonal(cos, 1.0)
    return cos


__all__ = ["METRICS", "Metric", "cosine_from_gram", "describe", "distance_from_gram", "get", "names",
           "sq_distances_from_gram"]
