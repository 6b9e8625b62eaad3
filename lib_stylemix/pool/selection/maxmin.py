"""`maxmin` (default): greedy max–min. The kept set is chosen jointly, so it spreads out.

Objective of candidate i given the picks P so far:  v(i) = min( score(i), min_{p∈P} ‖xᵢ − x_p‖ / s ).
With the `pool-novelty` score, score(i) = distance to the nearest member / s, so each next pick maximises
its distance to the pool *and* to the picks so far. v is quantised to the score resolution; ties go to the
higher score, then to generation order.
"""

from __future__ import annotations

import numpy as np

from lib_stylemix.pool.selection.registry import SelectInput, register


@register("maxmin", "greedy max–min: each next pick maximises min(score, distance to the picks so far / s); "
          "at most `per_parents` picks per parent set", order=0)
def maxmin(s: SelectInput) -> list[int]:
    n = len(s.scores)
    to_picks = np.full(n, np.inf)
    feat_sq = np.einsum("ad,ad->a", s.feats, s.feats)
    available = np.ones(n, dtype=bool)
    index = np.arange(n)
    groups = _group_ids(s.parent_sets)
    counts = np.zeros(groups.max() + 1 if n else 0, dtype=int)
    scores = s.quantised()
    picks: list[int] = []
    while len(picks) < s.keep and available.any():
        value = np.minimum(scores, to_picks / s.scale)
        if s.resolution > 0:
            value = np.round(value / s.resolution) * s.resolution
        value = np.where(available, value, -np.inf)
        best = int(np.lexsort((index, -scores, -value))[0])
        if not np.isfinite(value[best]):
            break
        available[best] = False
        picks.append(best)
        counts[groups[best]] += 1
        if 0 < s.per_parents <= counts[groups[best]]:
            available[groups == groups[best]] = False
        d2 = feat_sq + feat_sq[best] - 2.0 * s.feats @ s.feats[best]
        to_picks = np.minimum(to_picks, np.sqrt(np.maximum(d2, 0.0)))
    return picks


def _group_ids(parent_sets: list[frozenset[int]]) -> np.ndarray:
    """One integer per distinct parent set."""
    ids: dict[frozenset[int], int] = {}
    return np.array([ids.setdefault(p, len(ids)) for p in parent_sets], dtype=int)
