"""`legacy-average` (the seed's rule, kept for reproduction): mean distance to all members.

Convex along a mixing line, so it always prefers extreme ratios (near-copies of the outlying parent).
"""

from __future__ import annotations

import numpy as np

from lib_stylemix.pool.scores.registry import ScoreInput, register


@register("legacy-average", "(1/p) Σⱼ ‖x − mⱼ‖: mean distance to the members (seed rule; prefers parent copies)",
          order=30)
def legacy_average(s: ScoreInput) -> tuple[np.ndarray, float]:
    return s.dist.mean(axis=1), s.delta
