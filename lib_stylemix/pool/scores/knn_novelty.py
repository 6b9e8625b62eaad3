"""`knn-novelty`: mean distance to the k nearest entries of the archive (members + everything kept so far)."""

from __future__ import annotations

import numpy as np

from lib_stylemix.pool.registry import setting
from lib_stylemix.pool.scores.registry import ScoreInput, register


@register("knn-novelty", "(1/k) Σ of the k smallest ‖x − aⱼ‖ over the archive (members and every child kept "
          "so far, evicted ones included), divided by the pool spacing s",
          (setting("knn", 1, 50, "k of the k-nearest archive entries", int),), order=10)
def knn_novelty(s: ScoreInput) -> tuple[np.ndarray, float]:
    d = s.archive_dist
    k = max(1, min(s.knn, d.shape[1]))
    nearest = np.partition(d, k - 1, axis=1)[:, :k] if k < d.shape[1] else d
    return nearest.mean(axis=1) / s.scale, s.delta / s.scale
