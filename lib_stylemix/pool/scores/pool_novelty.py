"""`pool-novelty` (default): distance to the nearest member in units of the pool's own spacing."""

from __future__ import annotations

import numpy as np

from lib_stylemix.pool.scores.registry import ScoreInput, register


@register("pool-novelty", "minⱼ ‖x − mⱼ‖ / s, with s the median nearest-neighbour distance among members: "
          "1 means as far from the pool as its members are from each other", order=0)
def pool_novelty(s: ScoreInput) -> tuple[np.ndarray, float]:
    return s.dist.min(axis=1) / s.scale, s.delta / s.scale
