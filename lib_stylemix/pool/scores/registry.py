"""Registry of candidate scores. A score maps the candidates' distances (from K) to one number each.

Every score also states its resolution: distances from K are exact up to rounding of the kernel products,
about `DISTANCE_RESOLUTION` × the largest member norm (lora_math.md §10). Scores are quantised to that
resolution before anything compares them, so float noise never decides a ranking.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lib_stylemix.pool.registry import Entry, Registry, evolve_registry, registrar

# √ε of float32: relative resolution of a distance computed as √(K_ii + K_jj − 2K_ij) from float32 products.
DISTANCE_RESOLUTION = 2.5e-4


@dataclass(frozen=True)
class ScoreInput:
    """What every score may use, all exact from K.

    dist: candidates × members distances ‖x − mⱼ‖.  norms: ‖x‖.  scale: the pool's typical nearest-neighbour
    distance (median over members of the distance to their nearest other member).  archive_dist: candidates
    × archive distances (every member the pool ever held: current members and everything kept so far).
    knn: k of the k-nearest score.  delta: absolute resolution of one distance.
    """

    dist: np.ndarray
    norms: np.ndarray
    scale: float
    archive_dist: np.ndarray
    knn: int
    delta: float


# A score returns (values, resolution): equal values within `resolution` are ties.
ScoreFn = Callable[[ScoreInput], tuple[np.ndarray, float]]
SCORES: Registry[Entry[ScoreFn]] = evolve_registry("score", "lib_stylemix.pool.scores")
register = registrar(SCORES)


def get(name: str) -> Entry[ScoreFn]:
    return SCORES.get(name)


def names() -> tuple[str, ...]:
    return SCORES.names()


def pool_scale(member_dist: np.ndarray, member_norms: np.ndarray) -> float:
    """Median nearest-neighbour distance among members (the largest norm when that is 0 or undefined)."""
    fallback = float(member_norms.max()) if len(member_norms) else 1.0
    if len(member_dist) < 2:
        return fallback or 1.0
    d = member_dist.copy()
    np.fill_diagonal(d, np.inf)
    scale = float(np.median(d.min(axis=1)))
    return scale if scale > 0 else (fallback or 1.0)


def quantise(values: np.ndarray, resolution: float) -> np.ndarray:
    """Values rounded to a multiple of `resolution` (no-op for resolution 0)."""
    if resolution <= 0:
        return values
    return np.round(values / resolution) * resolution


def digits(resolution: float) -> int:
    """Decimals worth printing for a score of this resolution (at least 1, at most 12)."""
    if resolution <= 0:
        return 6
    return int(min(12, max(1, np.ceil(-np.log10(resolution)))))
