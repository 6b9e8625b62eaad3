"""`orthogonal`: A + t·(B − proj_A B), the part of B that A does not already have, per block-weight group.

The projection is taken per block b (the recipe's coefficient axis, where K_b is known exactly):
    c_b = ⟨A, B⟩_b / ⟨A, A⟩_b,     child_b = (1 − t·c_b)·A_b + t·B_b
so the child is a linear recipe with per-block weights: exact by factor concatenation. Per block means per
block-weight group (BASE, IN01 … OUT11), not per module: within a group B⊥ is orthogonal to A as a whole.
"""

from __future__ import annotations

import itertools

import numpy as np

from lib_stylemix.pool.candidates import Candidate
from lib_stylemix.pool.operators.registry import OperatorInput, register
from lib_stylemix.pool.registry import setting


@register("orthogonal", "A + t·(B − proj_A B) with the projection per block-weight group: adds what B has and "
          "A lacks",
          (setting("orthogonal_scales", -4, 4, "the values of t"),), order=10)
def orthogonal(ctx: OperatorInput) -> list[Candidate]:
    out = []
    for a, b in itertools.permutations(range(len(ctx.names)), 2):
        aa, ab = ctx.block_inner(a, a), ctx.block_inner(a, b)
        proj = np.divide(ab, aa, out=np.zeros_like(ab), where=aa > 0)
        b_perp = ctx.coefs[b] - proj[:, None] * ctx.coefs[a]
        for t in ctx.settings.orthogonal_scales:
            out.append(ctx.make("orthogonal", (a, b), {"scale": t}, ctx.coefs[a] + t * b_perp))
    return out
