"""`novelty` (the previous default, kept for reproduction): distance to the nearest member over ‖x‖.

Ties at 1 for every 0.5 mix of two orthogonal parents of equal norm (lora_math.md §7).
"""

from __future__ import annotations

import numpy as np

from lib_stylemix.pool.scores.registry import ScoreInput, register


@register("novelty", "minⱼ ‖x − mⱼ‖ / ‖x‖: distance to the nearest member relative to the candidate's own norm "
          "(previous default; ties at 1 on orthogonal pairs)", order=20)
def novelty(s: ScoreInput) -> tuple[np.ndarray, float]:
    nearest = s.dist.min(axis=1)
    values = np.divide(nearest, s.norms, out=np.zeros_like(nearest), where=s.norms > 0)
    positive = s.norms[s.norms > 0]
    return values, s.delta / float(positive.min()) if len(positive) else 0.0
